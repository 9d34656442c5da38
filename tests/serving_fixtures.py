"""Helpers and fixtures for the serving tests: real model servers and real services.

Import the fixtures into a test module with ``from tests.serving_fixtures import ...``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from churnops import REGISTERED_MODEL_NAME, paths
from churnops.deployment import LiveDeployment, ServedModel
from churnops.deployment_record import DeploymentRecord
from churnops.settings import ServiceSettings
from ops.processes import STARTUP_BOUND_S, free_port, server_process, wait_for_http
from serving.app import create_app


def require_service(name: str, host: str, port: int) -> None:
    """Skip unless ``host:port`` accepts connections; fail instead when
    ``CHURNOPS_REQUIRE_SERVICES=1`` (CI machines that must have the service)."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as error:
        reason = f"{name} is not reachable on {host}:{port} ({error})"
    if os.environ.get("CHURNOPS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; CHURNOPS_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)


def closed_endpoint() -> str:
    """An /invocations URL on a loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}/invocations"


@dataclass
class ModelServer:
    """An ``mlflow models serve`` process."""

    process: subprocess.Popen
    port: int
    startup_s: float

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/invocations"


@contextmanager
def mlflow_model_server(model_uri: str, tracking_uri: str, log_dir: Path
                        ) -> Iterator[ModelServer]:
    port = free_port()
    bin_dir = Path(sys.executable).parent  # mlflow runs `uvicorn` from PATH
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", model_uri,
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri,
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    with server_process(command, f"http://127.0.0.1:{port}/ping",
                        log_dir / f"model-server-{port}.log", env=env) as (process, startup):
        server = ModelServer(process, port, startup)
        _warm_up(server)
        yield server


def _warm_up(server: ModelServer) -> None:
    """Send one prediction: a scoring server's first call is much slower than the rest."""
    from churnops import schema
    from serving.api_models import EXAMPLE_FEATURES

    row = [EXAMPLE_FEATURES[name] for name in schema.FEATURE_NAMES]
    response = httpx.post(server.endpoint, timeout=STARTUP_BOUND_S, json={
        "dataframe_split": {"columns": list(schema.FEATURE_NAMES), "data": [row]}})
    response.raise_for_status()


@dataclass(frozen=True)
class Champion:
    version: str
    threshold: float
    suite: dict[str, Any]
    tracking_uri: str


@pytest.fixture(scope="session")
def champion(training_run, zenml_client) -> Champion:
    """The champion version the training run promoted, with its threshold and stored suite."""
    import mlflow

    tracking_uri = zenml_client.active_stack.experiment_tracker.get_tracking_uri()
    client = mlflow.MlflowClient(tracking_uri)
    version = client.get_model_version_by_alias(REGISTERED_MODEL_NAME, "champion")
    mlflow.set_tracking_uri(tracking_uri)
    suite = mlflow.artifacts.load_dict(version.tags["validation_suite"])
    return Champion(str(version.version), float(version.tags["decision_threshold"]), suite,
                    tracking_uri)


@pytest.fixture(scope="session")
def champion_server(champion: Champion, tmp_path_factory) -> Iterator[ModelServer]:
    """A real MLflow scoring server for ``churn-model@champion``."""
    with mlflow_model_server(f"models:/{REGISTERED_MODEL_NAME}@champion",
                             champion.tracking_uri,
                             tmp_path_factory.mktemp("model-servers")) as server:
        yield server


def model_deployment(champion: Champion, endpoint: str, as_version: str | None = None
                     ) -> ServedModel:
    """The champion's model served at ``endpoint``, under its own version or ``as_version``
    (a candidate must be another version than the primary)."""
    return ServedModel(version=as_version or champion.version,
                       model_uri=f"models:/{REGISTERED_MODEL_NAME}/{champion.version}",
                       endpoint=endpoint, threshold=champion.threshold,
                       validation_suite=champion.suite)


def write_deployment(url: str, config: LiveDeployment) -> str:
    """Publish ``config`` as the next generation of the deployment record at ``url``."""
    with DeploymentRecord(url) as record:
        record.publish(config)
    return url


def service_settings(folder: Path, **overrides: Any) -> ServiceSettings:
    """Settings for a service whose deployment record and SQLite log live in ``folder``."""
    values: dict[str, Any] = {
        "deployment_url": f"sqlite:///{folder / 'deployment.db'}",
        "feature_repo": paths.FEATURE_REPO,
        "inference_log_url": f"sqlite:///{folder / 'inference_log.db'}",
        "model_timeout_s": 10.0,  # two model servers share two cores with the tests
        **overrides,
    }
    return ServiceSettings(**values)


@dataclass
class RunningService:
    """A service on a loopback port, served by uvicorn in a background thread."""

    url: str
    settings: ServiceSettings
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextmanager
def running_service(settings: ServiceSettings) -> Iterator[RunningService]:
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                            log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    service = RunningService(f"http://127.0.0.1:{port}", settings, server, thread)
    try:
        wait_for_http(f"{service.url}/health")
        yield service
    finally:
        service.stop()


@pytest.fixture
def start_service(feature_store) -> Iterator[Any]:
    """Start services with given settings; all are stopped after the test."""
    with ExitStack() as stack:
        yield lambda settings: stack.enter_context(running_service(settings))


def metric_value(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0.0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0
