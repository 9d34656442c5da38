"""Run the service with uvicorn in the foreground (``python -m serving.server``)."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from churnops.settings import ServiceSettings
from serving.app import create_app


def serve(host: str = "127.0.0.1", port: int = 8080,
          settings: ServiceSettings | None = None) -> None:
    """Serve until SIGINT or SIGTERM; uvicorn then finishes open requests, runs the app's
    shutdown (closing the model-server pool and the log's connections) and re-raises the
    signal, so the process ends as a supervisor expects.

    One worker process: requests run on its event loop, so one process owns the
    model-server connections, the feature store and the canary monitor.
    """
    app = create_app(settings or ServiceSettings.from_env())
    config = uvicorn.Config(app, host=host, port=port, log_level="info",
                            timeout_graceful_shutdown=10)
    uvicorn.Server(config).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
