"""Settings, request models, deployment files and canary routing, without servers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from churnops import schema
from churnops.deployment import LiveDeployment, ServedModel
from churnops.settings import CanaryBounds, ServiceSettings
from serving.api_models import EXAMPLE_CUSTOMER_ID, EXAMPLE_FEATURES, PredictRequest
from serving.routing import CanaryMonitor, Router, canary_draw

SUITE = {"name": "s", "expectations": [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "tenure"}}]}


def _model(version: str) -> ServedModel:
    return ServedModel(version=version, model_uri=f"models:/churn-model/{version}",
                       endpoint=f"http://127.0.0.1:1/{version}", threshold=0.4,
                       validation_suite=SUITE)


def test_example_is_the_real_customer(clean_customers) -> None:
    row = clean_customers.set_index(schema.ID_COLUMN).loc[EXAMPLE_CUSTOMER_ID]
    assert {name: row[name] for name in schema.FEATURE_NAMES} == EXAMPLE_FEATURES
    PredictRequest.model_validate({"features": EXAMPLE_FEATURES})


def test_settings_from_environment(tmp_path: Path) -> None:
    suite = tmp_path / "suite.json"
    settings = ServiceSettings.from_env({
        "CHURNOPS_MODEL_ENDPOINT": "http://127.0.0.1:5001/invocations",
        "CHURNOPS_MODEL_VERSION": "3", "CHURNOPS_MODEL_THRESHOLD": "0.43",
        "CHURNOPS_VALIDATION_SUITE": str(suite), "CHURNOPS_API_KEY": "k",
        "CHURNOPS_BATCH_LIMIT": "10", "CHURNOPS_INFERENCE_LOG_URL": "sqlite:///x.db",
    })
    assert settings.model_override is not None and settings.model_override.threshold == 0.43
    assert (settings.api_key, settings.batch_limit, settings.model_timeout_s) == ("k", 10, 2.0)
    assert settings.deployment_url.endswith("deployment.db")
    with pytest.raises(ValueError, match="CHURNOPS_MODEL_VERSION"):
        ServiceSettings.from_env({"CHURNOPS_MODEL_ENDPOINT": "http://x/invocations"})
    with pytest.raises(ValueError, match="positive"):
        ServiceSettings.from_env({"CHURNOPS_BATCH_LIMIT": "0"})


def test_deployment_needs_a_candidate_for_shadow_and_canary() -> None:
    with pytest.raises(ValidationError, match="a candidate is required"):
        LiveDeployment(strategy="shadow", primary=_model("1"))


def test_canary_routing_is_deterministic_per_request() -> None:
    active = Router.compile(LiveDeployment(
        strategy="canary", canary_share=0.3, primary=_model("1"), candidate=_model("2")))
    ids = [f"{i:032x}" for i in range(2000)]
    routes = [active.route(i) for i in ids]
    assert routes == [active.route(i) for i in ids]
    canary = [r for r in routes if r.is_canary]
    assert all(r.shadow is active.primary and r.answer.slot == "canary" for r in canary)
    assert {r.answer.slot for r in routes if not r.is_canary} == {"primary"}
    assert 0.0 <= canary_draw("a") < 1.0


def test_canary_monitor_bounds() -> None:
    bounds = CanaryBounds(max_error_rate=0.2, min_agreement=0.8, min_requests=5)
    failing = CanaryMonitor(bounds)
    verdicts = [failing.record(failed=True, agreed=None) for _ in range(5)]
    assert verdicts[:4] == [None] * 4 and "error rate" in verdicts[4]
    disagreeing = CanaryMonitor(bounds)
    verdicts = [disagreeing.record(failed=False, agreed=False) for _ in range(5)]
    assert "agreed" in verdicts[4]
    healthy = CanaryMonitor(bounds)
    assert [healthy.record(failed=False, agreed=True) for _ in range(50)] == [None] * 50
