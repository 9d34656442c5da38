"""Shadow and canary deployments against two real MLflow scoring servers."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from churnops import REGISTERED_MODEL_NAME, deployment_record
from churnops.deployment import LiveDeployment
from churnops.settings import CanaryBounds
from serving.api_models import EXAMPLE_CUSTOMER_ID
from tests.serving_fixtures import (
    Champion,
    ModelServer,
    RunningService,
    closed_endpoint,
    metric_value,
    mlflow_model_server,
    model_deployment,
    service_settings,
    write_deployment,
)

pytestmark = pytest.mark.slow

CANDIDATE = "candidate"
"""The candidate's version: the champion's model under another name."""


@pytest.fixture(scope="module")
def candidate_server(champion: Champion, tmp_path_factory) -> Iterator[ModelServer]:
    """A second scoring server; it serves the champion's model as the candidate."""
    with mlflow_model_server(f"models:/{REGISTERED_MODEL_NAME}/{champion.version}",
                             champion.tracking_uri,
                             tmp_path_factory.mktemp("candidate")) as server:
        yield server


def _rows(service: RunningService) -> list[dict]:
    engine = create_engine(service.settings.inference_log_url)
    with engine.connect() as connection:
        rows = [dict(r) for r in connection.execute(text("SELECT * FROM predictions")).mappings()]
    engine.dispose()
    return rows


def _start(tmp_path: Path, start_service, config: LiveDeployment) -> RunningService:
    settings = service_settings(tmp_path)
    write_deployment(settings.deployment_url, config)
    return start_service(settings)


def test_shadow_logs_both_and_answers_with_the_primary(
    tmp_path: Path, champion: Champion, champion_server: ModelServer,
    candidate_server: ModelServer, start_service
) -> None:
    service = _start(tmp_path, start_service, LiveDeployment(
        strategy="shadow",
        primary=model_deployment(champion, champion_server.endpoint),
        candidate=model_deployment(champion, candidate_server.endpoint, CANDIDATE)))
    with service.client() as client:
        answers = [client.post("/predict", json={"customer_id": EXAMPLE_CUSTOMER_ID}).json()
                   for _ in range(3)]
    assert {a["variant"] for a in answers} == {"primary"}
    rows = _rows(service)
    assert len(rows) == 6
    for answer in answers:
        mine = {bool(r["shadow"]): r for r in rows if r["request_id"] == answer["request_id"]}
        assert mine[False]["variant"] == "primary" and mine[True]["variant"] == "shadow"
        assert mine[True]["status"] == "ok"
        assert mine[True]["probability"] == answer["churn_probability"]


def test_a_failing_shadow_never_fails_the_request(
    tmp_path: Path, champion: Champion, champion_server: ModelServer, start_service
) -> None:
    service = _start(tmp_path, start_service, LiveDeployment(
        strategy="shadow",
        primary=model_deployment(champion, champion_server.endpoint),
        candidate=model_deployment(champion, closed_endpoint(), CANDIDATE)))
    with service.client() as client:
        response = client.post("/predict", json={"customer_id": EXAMPLE_CUSTOMER_ID})
    assert response.status_code == 200
    shadow = [r for r in _rows(service) if r["shadow"]]
    assert [r["status"] for r in shadow] == ["model_error"]


def test_canary_gets_its_share_of_traffic(
    tmp_path: Path, champion: Champion, champion_server: ModelServer,
    candidate_server: ModelServer, start_service
) -> None:
    share, n = 0.25, 400
    service = _start(tmp_path, start_service, LiveDeployment(
        strategy="canary", canary_share=share,
        primary=model_deployment(champion, champion_server.endpoint),
        candidate=model_deployment(champion, candidate_server.endpoint, CANDIDATE)))
    items = [{"customer_id": EXAMPLE_CUSTOMER_ID}] * 100
    with service.client() as client:
        answers = [a for _ in range(n // 100)
                   for a in client.post("/predict/batch", json={"requests": items}).json()]
    canary = sum(a["variant"] == "canary" for a in answers)
    # Two-sided binomial test at alpha = 0.001 (normal approximation, n * p = 100).
    z = (canary - n * share) / math.sqrt(n * share * (1 - share))
    assert abs(z) < 3.29, f"{canary} of {n} requests went to the canary"
    rows = _rows(service)
    canary_ids = {a["request_id"] for a in answers if a["variant"] == "canary"}
    shadowed = {r["request_id"] for r in rows if r["shadow"] and r["variant"] == "primary"}
    assert shadowed == canary_ids  # the primary scores every canary request too
    assert read_live(service).strategy == "canary"  # identical models agree: no rollback


def read_live(service: RunningService) -> LiveDeployment:
    return deployment_record.read_live(service.settings.deployment_url)


def test_a_broken_canary_is_rolled_back(
    tmp_path: Path, champion: Champion, champion_server: ModelServer, start_service
) -> None:
    bounds = CanaryBounds(max_error_rate=0.1, min_agreement=0.9, min_requests=10)
    service = _start(tmp_path, start_service, LiveDeployment(
        strategy="canary", canary_share=0.5, bounds=bounds,
        primary=model_deployment(champion, champion_server.endpoint),
        candidate=model_deployment(champion, closed_endpoint(), CANDIDATE)))
    with service.client() as client:
        responses = [client.post("/predict", json={"customer_id": EXAMPLE_CUSTOMER_ID})
                     for _ in range(80)]
        metrics = client.get("/metrics").text
    assert [r.status_code for r in responses] == [200] * 80  # the primary stood in
    assert {r.json()["variant"] for r in responses} == {"primary"}
    live = read_live(service)
    assert live.strategy == "basic" and live.candidate is None
    assert live.rollback is not None and "error rate" in live.rollback.reason
    assert live.primary.endpoint == champion_server.endpoint
    with deployment_record.DeploymentRecord(service.settings.deployment_url) as record:
        [event] = record.history()
    assert (event.event, event.candidate) == ("rolled_back", CANDIDATE)
    assert event.reason.startswith("automatic: canary error rate")
    assert metric_value(metrics, "churnops_canary_rollbacks_total") == 1
    failed_canary_calls = [r for r in _rows(service)
                           if r["variant"] == "canary" and r["status"] == "model_error"]
    assert len(failed_canary_calls) == bounds.min_requests  # the error budget, then rollback
