"""Latency and throughput of the churn service's /predict against the bare model server.

    python benchmarks/serving/run.py [--requests 2000] [--concurrency 4]

Needs a champion (`python run.py pipeline training` first). Starts, on 127.0.0.1:
  * the baseline: an MLflow scoring server for churn-model@champion (`mlflow models serve`);
  * the service (`python -m serving.server`) in front of that same server.
Then, at the same concurrency, it sends the same customers:
  * to the service: POST /predict {"customer_id": ...}: Feast online lookup, validation,
    model call, business rule, inference-log write, metrics;
  * to the baseline: POST /invocations with those customers' features, one row each.
It prints p50/p99 latency and throughput of both and the ratios. Both servers are stopped
at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from churnops import CHAMPION_ALIAS, REGISTERED_MODEL_NAME, data, paths, schema  # noqa: E402
from ops.processes import free_port, server_process  # noqa: E402


def measure(send, payloads: list, concurrency: int) -> dict[str, float]:
    """Send every payload with `concurrency` keep-alive clients; latency in ms.

    Failed requests (non-2xx, such as the service's 503 when the model server times out)
    are counted, and their latency is included: a benchmark that stops at the first error
    hides the tail it is there to measure.
    """
    def worker(chunk: list) -> tuple[list[float], int]:
        latencies, errors = [], 0
        with httpx.Client(timeout=10) as client:
            for payload in chunk:
                started = time.perf_counter()
                response = send(client, payload)
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not response.is_success
        return latencies, errors

    chunks = [payloads[i::concurrency] for i in range(concurrency)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(worker, chunks))
    elapsed = time.perf_counter() - started
    latencies = sorted(x for chunk, _ in results for x in chunk)
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
        "throughput_rps": len(latencies) / elapsed,
        "errors": sum(errors for _, errors in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()

    paths.export_state_env()
    tracking_uri = paths.mlflow_tracking_uri()
    from mlflow import MlflowClient

    champion = MlflowClient(tracking_uri).get_model_version_by_alias(
        REGISTERED_MODEL_NAME, CHAMPION_ALIAS)
    clean, _ = data.clean(data.load_raw(paths.RAW_DATA))
    rows = clean.sample(args.requests + args.warmup, replace=True, random_state=0)
    ids = rows[schema.ID_COLUMN].tolist()
    features = rows[list(schema.FEATURE_NAMES)].to_dict("split")["data"]

    model_port, service_port = free_port(), free_port()
    # `mlflow models serve` runs `uvicorn` from PATH: put this interpreter's bin first.
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    workdir = Path(tempfile.mkdtemp(prefix="churnops-bench-"))
    suite = MlflowClient(tracking_uri).download_artifacts(
        champion.run_id, "validation/feature_suite.json", str(workdir))
    model_command = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m",
                     f"models:/{REGISTERED_MODEL_NAME}@{CHAMPION_ALIAS}", "--env-manager",
                     "local", "-h", "127.0.0.1", "-p", str(model_port)]
    service_env = {
        **env,
        "CHURNOPS_MODEL_ENDPOINT": f"http://127.0.0.1:{model_port}/invocations",
        "CHURNOPS_MODEL_VERSION": str(champion.version),
        "CHURNOPS_MODEL_THRESHOLD": champion.tags["decision_threshold"],
        "CHURNOPS_VALIDATION_SUITE": suite,
        "CHURNOPS_INFERENCE_LOG_URL": f"sqlite:///{workdir / 'inference_log.db'}",
    }
    service_command = [sys.executable, "-m", "serving.server", "--host", "127.0.0.1",
                       "--port", str(service_port)]
    with server_process(model_command, f"http://127.0.0.1:{model_port}/health",
                        workdir / "model-server.log", 180, env=env), \
            server_process(service_command, f"http://127.0.0.1:{service_port}/ready",
                           workdir / "service.log", 180, env=service_env, cwd=ROOT):
        predict = f"http://127.0.0.1:{service_port}/predict"
        invocations = f"http://127.0.0.1:{model_port}/invocations"
        columns = list(schema.FEATURE_NAMES)

        def to_service(client: httpx.Client, customer_id: str) -> httpx.Response:
            return client.post(predict, json={"customer_id": customer_id})

        def to_model(client: httpx.Client, row: list) -> httpx.Response:
            return client.post(invocations,
                               json={"dataframe_split": {"columns": columns, "data": [row]}})

        measure(to_service, ids[:args.warmup], args.concurrency)
        measure(to_model, features[:args.warmup], args.concurrency)
        results = {
            "service /predict (customer_id)": measure(to_service, ids[args.warmup:],
                                                      args.concurrency),
            "bare model server /invocations": measure(to_model, features[args.warmup:],
                                                      args.concurrency),
        }

    service_r, bare_r = results.values()
    print(f"\n{args.requests} requests per target, concurrency {args.concurrency}, "
          f"churn-model v{champion.version}\n")
    print(f"{'target':<34} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'errors':>7}")
    for name, r in results.items():
        print(f"{name:<34} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['throughput_rps']:>8.1f}"
              f" {r['errors']:>7}")
    print(f"\nratio service/bare: p50 {service_r['p50_ms'] / bare_r['p50_ms']:.2f}x, "
          f"p99 {service_r['p99_ms'] / bare_r['p99_ms']:.2f}x, "
          f"throughput {service_r['throughput_rps'] / bare_r['throughput_rps']:.2f}x "
          f"(target: p99 <= 1.5x)")


if __name__ == "__main__":
    main()
