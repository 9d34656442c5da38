"""The service as a process: durability under SIGKILL, clean SIGTERM, and API fuzzing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from churnops import paths
from churnops.deployment import LiveDeployment
from tests.serving_fixtures import (
    Champion,
    ModelServer,
    free_port,
    model_deployment,
    service_settings,
    wait_for_http,
    write_deployment,
)

pytestmark = pytest.mark.slow


@contextmanager
def service_process(folder: Path, champion: Champion, endpoint: str
                    ) -> Iterator[tuple[subprocess.Popen, str, str]]:
    """``python -m serving.server`` configured by environment variables only."""
    settings = service_settings(folder)
    write_deployment(settings.deployment_url,
                     LiveDeployment(primary=model_deployment(champion, endpoint)))
    port = free_port()
    env = {**os.environ, "CHURNOPS_DEPLOYMENT_URL": settings.deployment_url,
           "CHURNOPS_INFERENCE_LOG_URL": settings.inference_log_url,
           "CHURNOPS_MODEL_TIMEOUT_S": "10"}
    log = (folder / "service.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "serving.server", "--port", str(port)],
        cwd=paths.PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process)
        yield process, url, settings.inference_log_url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        log.close()


def test_every_answered_request_survives_sigkill(
    tmp_path: Path, champion: Champion, champion_server: ModelServer, feature_store,
    clean_customers
) -> None:
    ids = clean_customers["customerID"].head(60).tolist()
    with service_process(tmp_path, champion, champion_server.endpoint) as (process, url, db):
        with httpx.Client(base_url=url, timeout=30) as client, \
                ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(
                lambda i: client.post("/predict", json={"customer_id": i}), ids))
            process.send_signal(signal.SIGKILL)
        process.wait()
    assert [r.status_code for r in responses] == [200] * len(ids), [
        r.text for r in responses if r.status_code != 200]
    answered = {r.json()["request_id"] for r in responses}
    engine = create_engine(db)
    with engine.connect() as connection:
        logged = {row[0] for row in connection.execute(
            text("SELECT request_id FROM predictions WHERE status = 'ok'"))}
    engine.dispose()
    assert answered <= logged


def test_sigterm_stops_the_service_cleanly(
    tmp_path: Path, champion: Champion, champion_server: ModelServer, feature_store
) -> None:
    with service_process(tmp_path, champion, champion_server.endpoint) as (process, url, _):
        assert httpx.get(f"{url}/ready", timeout=30).status_code == 200
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    log = (tmp_path / "service.log").read_text()
    assert "Application shutdown complete" in log and "Traceback" not in log


def test_fuzzed_requests_never_get_a_server_error(
    tmp_path: Path, champion: Champion, champion_server: ModelServer, start_service
) -> None:
    """Schemathesis: valid and invalid bodies from the OpenAPI spec, 50 per operation; no
    5xx, and every answer's status, content type and body as the spec states them."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import (
        content_type_conformance,
        negative_data_rejection,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance, negative_data_rejection]
    service_config = service_settings(tmp_path)
    write_deployment(service_config.deployment_url, LiveDeployment(
        primary=model_deployment(champion, champion_server.endpoint)))
    service = start_service(service_config)
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=50, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_server_error(case) -> None:
            case.call_and_validate(base_url=service.url, checks=checks)

        no_server_error()
