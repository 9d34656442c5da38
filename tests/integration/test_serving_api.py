"""The prediction service over real HTTP, in front of a real MLflow scoring server."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, text

from churnops import REGISTERED_MODEL_NAME, features, schema
from churnops.deployment import LiveDeployment
from serving.api_models import EXAMPLE_CUSTOMER_ID, EXAMPLE_FEATURES
from tests.browser import BROWSER_ARGS, chromium
from tests.serving_fixtures import (
    Champion,
    ModelServer,
    RunningService,
    closed_endpoint,
    metric_value,
    model_deployment,
    service_settings,
    write_deployment,
)

pytestmark = pytest.mark.slow


def _log_rows(service: RunningService, where: str = "1=1") -> list[dict]:
    engine = create_engine(service.settings.inference_log_url)
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT * FROM predictions WHERE {where}")).mappings()
        result = [dict(row) for row in rows]
    engine.dispose()
    return result


@pytest.fixture
def service(tmp_path: Path, champion: Champion, champion_server: ModelServer,
            start_service) -> RunningService:
    """A service whose deployment file names the champion server."""
    settings = service_settings(tmp_path)
    write_deployment(settings.deployment_url, LiveDeployment(
        primary=model_deployment(champion, champion_server.endpoint)))
    return start_service(settings)


@pytest.fixture
def down_service(tmp_path: Path, champion: Champion, start_service) -> RunningService:
    """A service whose model server is down (a closed port)."""
    settings = service_settings(tmp_path)
    write_deployment(settings.deployment_url, LiveDeployment(
        primary=model_deployment(champion, closed_endpoint())))
    return start_service(settings)


def test_model_server_starts_and_answers(champion_server: ModelServer) -> None:
    print(f"mlflow models serve answered /ping after {champion_server.startup_s:.1f} s")
    response = httpx.post(champion_server.endpoint, json={"dataframe_split": {
        "columns": list(schema.FEATURE_NAMES),
        "data": [[EXAMPLE_FEATURES[name] for name in schema.FEATURE_NAMES]],
    }})
    [[p0, p1]] = response.json()["predictions"]
    assert p0 + p1 == pytest.approx(1.0)


def test_predict_by_id_matches_the_registered_model(service: RunningService, feature_store,
                                                     champion: Champion) -> None:
    import mlflow

    ids = [EXAMPLE_CUSTOMER_ID, "5575-GNVDE", "3668-QPYBK"]
    with service.client() as client:
        answers = [client.post("/predict", json={"customer_id": i}).json() for i in ids]
    mlflow.set_tracking_uri(champion.tracking_uri)
    model = mlflow.sklearn.load_model(f"models:/{REGISTERED_MODEL_NAME}@champion")
    online = features.online_features(feature_store, ids)[list(schema.FEATURE_NAMES)]
    expected = model.predict_proba(online)[:, 1]
    got = np.array([answer["churn_probability"] for answer in answers])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    for answer, probability in zip(answers, expected, strict=True):
        assert answer["decision"] == bool(probability >= champion.threshold)
        assert answer["model_version"] == champion.version
        assert answer["variant"] == "primary"
    rows = _log_rows(service)
    assert {row["request_id"] for row in rows} == {a["request_id"] for a in answers}
    assert all(row["status"] == "ok" and not row["shadow"] for row in rows)


def test_predict_by_features_equals_predict_by_id(service: RunningService) -> None:
    with service.client() as client:
        by_id = client.post("/predict", json={"customer_id": EXAMPLE_CUSTOMER_ID}).json()
        by_features = client.post("/predict", json={"features": EXAMPLE_FEATURES}).json()
        both = client.post("/predict", json={"customer_id": "x-1", "features": EXAMPLE_FEATURES})
    assert by_features["churn_probability"] == by_id["churn_probability"]
    assert by_features["customer_id"] is None
    assert both.status_code == 200 and both.json()["customer_id"] == "x-1"


def _with(**changes: object) -> dict:
    return {"features": {**EXAMPLE_FEATURES, **changes}}


def _without(name: str) -> dict:
    return {"features": {k: v for k, v in EXAMPLE_FEATURES.items() if k != name}}


@pytest.mark.parametrize(("body", "loc", "error_type"), [
    (_without("tenure"), ["body", "features", "tenure"], "missing"),
    (_with(Colour="red"), ["body", "features", "Colour"], "extra_forbidden"),
    ({"customer_id": EXAMPLE_CUSTOMER_ID, "debug": True}, ["body", "debug"], "extra_forbidden"),
    (_with(tenure="12"), ["body", "features", "tenure"], "int_type"),
    (_with(tenure=1.5), ["body", "features", "tenure"], "int_type"),
    (_with(MonthlyCharges="cheap"), ["body", "features", "MonthlyCharges"], "float_type"),
    (_with(tenure=-1), ["body", "features", "tenure"], "greater_than_equal"),
    (_with(TotalCharges=1e9), ["body", "features", "TotalCharges"], "less_than_equal"),
    (_with(SeniorCitizen=2), ["body", "features", "SeniorCitizen"], "less_than_equal"),
    (_with(Contract="Three year"), ["body", "features", "Contract"], "literal_error"),
    (_with(gender=None), ["body", "features", "gender"], "literal_error"),
    ({}, ["body"], "value_error"),
    ({"customer_id": 7590}, ["body", "customer_id"], "string_type"),
])
def test_bad_payloads_are_refused_naming_field_and_rule(
    service: RunningService, body: dict, loc: list, error_type: str
) -> None:
    with service.client() as client:
        response = client.post("/predict", json=body)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(e["loc"] == loc and e["type"] == error_type and e["msg"] for e in errors), errors
    # Refused, not answered: one row says so, for monitoring to count, with no probability.
    [row] = _log_rows(service)
    assert (row["status"], row["probability"], row["shadow"]) == ("invalid", None, False)
    field = loc[-1] if len(loc) > 1 else "body"
    assert row["error"].startswith(f"{field}: "), row["error"]
    if error_type == "missing" or body.get("features", {}).get(field, "") is None:
        assert row["error"] == f"{field}: missing"


def test_batch(service: RunningService) -> None:
    items = [{"customer_id": EXAMPLE_CUSTOMER_ID}, {"features": EXAMPLE_FEATURES}]
    with service.client() as client:
        answers = client.post("/predict/batch", json={"requests": items}).json()
        too_many = client.post("/predict/batch", json={"requests": items * 129})
        bad_item = client.post("/predict/batch", json={"requests": [items[0], _with(tenure=-3)]})
    assert [a["churn_probability"] for a in answers][0] == answers[1]["churn_probability"]
    assert len({a["request_id"] for a in answers}) == 2
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["type"] == "too_long"
    assert bad_item.status_code == 422
    assert bad_item.json()["detail"][0]["loc"] == ["body", "requests", 1, "features", "tenure"]
    # Only the invalid item is logged as refused; the batch's size is no item's problem.
    [refused] = _log_rows(service, "status = 'invalid'")
    assert json.loads(refused["features"])["tenure"] == -3
    assert refused["error"].startswith("tenure: ")


def test_unknown_customer_is_404(service: RunningService) -> None:
    with service.client() as client:
        response = client.post("/predict", json={"customer_id": "0000-NOBODY"})
        batch = client.post("/predict/batch", json={"requests": [
            {"customer_id": EXAMPLE_CUSTOMER_ID}, {"customer_id": "0000-NOBODY"}]})
    assert response.status_code == 404
    assert "0000-NOBODY" in response.json()["detail"]
    assert batch.status_code == 404


def test_model_server_down_is_503_logged_and_counted(down_service: RunningService) -> None:
    with down_service.client() as client:
        response = client.post("/predict", json={"customer_id": EXAMPLE_CUSTOMER_ID})
        ready = client.get("/ready")
        metrics = client.get("/metrics").text
    assert response.status_code == 503
    assert "model server" in response.json()["detail"]
    [row] = _log_rows(down_service)
    assert row["status"] == "model_error" and row["probability"] is None and row["error"]
    assert metric_value(metrics, "churnops_model_server_failures_total", variant="primary") == 1
    assert metric_value(metrics, "churnops_requests_total",
                        endpoint="/predict", status="503", variant="none") == 1
    assert ready.status_code == 503
    assert ready.json()["checks"]["model:primary"] != "ok"
    assert ready.json()["checks"]["feature_store"] == "ok"


def test_ready_health_and_metrics(service: RunningService) -> None:
    with service.client() as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        client.post("/predict", json={"customer_id": EXAMPLE_CUSTOMER_ID})
        client.post("/predict", json={"customer_id": "0000-NOBODY"})
        metrics = client.get("/metrics").text
    assert ready.status_code == 200, ready.json()
    assert set(ready.json()["checks"]) == {"deployment", "model:primary", "feature_store",
                                           "inference_log"}
    assert metric_value(metrics, "churnops_requests_total",
                        endpoint="/predict", status="200", variant="primary") == 1
    assert metric_value(metrics, "churnops_errors_total",
                        endpoint="/predict", kind="unknown_customer") == 1
    assert metric_value(metrics, "churnops_predicted_probability_count", variant="primary") == 1
    assert metric_value(metrics, "churnops_request_latency_seconds_count",
                        endpoint="/predict") == 2


def test_concurrent_requests_each_leave_one_row(service: RunningService,
                                                clean_customers) -> None:
    ids = clean_customers[schema.ID_COLUMN].head(50).tolist()
    with service.client() as client, ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(
            lambda i: client.post("/predict", json={"customer_id": i}), ids))
    assert [r.status_code for r in responses] == [200] * 50
    answered = {r.json()["request_id"] for r in responses}
    rows = _log_rows(service)
    assert len(rows) == 50 and {row["request_id"] for row in rows} == answered


def test_feedback_joins_predictions(service: RunningService) -> None:
    from serving.inference_log import InferenceLog

    with service.client() as client:
        first = client.post("/predict", json={"customer_id": EXAMPLE_CUSTOMER_ID}).json()
        second = client.post("/predict", json={"customer_id": "5575-GNVDE"}).json()
        by_request = client.post("/feedback", json={
            "customer_id": EXAMPLE_CUSTOMER_ID, "churned": True,
            "request_id": first["request_id"]})
        by_customer = client.post("/feedback", json={"customer_id": "5575-GNVDE",
                                                     "churned": False})
        unknown = client.post("/feedback", json={"customer_id": EXAMPLE_CUSTOMER_ID,
                                                 "churned": True, "request_id": "0" * 32})
        no_prediction = client.post("/feedback", json={"customer_id": "3668-QPYBK",
                                                       "churned": True})
        wrong_customer = client.post("/feedback", json={
            "customer_id": "5575-GNVDE", "churned": True, "request_id": first["request_id"]})
    assert by_request.status_code == by_customer.status_code == 201
    assert by_customer.json()["request_id"] == second["request_id"]
    assert unknown.status_code == no_prediction.status_code == 404
    assert wrong_customer.status_code == 409
    log = InferenceLog(service.settings.inference_log_url)
    joined = log.labelled_predictions()
    log.close()
    assert [(j["request_id"], j["churned"], j["probability"]) for j in joined] == [
        (first["request_id"], True, first["churn_probability"]),
        (second["request_id"], False, second["churn_probability"]),
    ]


def test_one_outcome_per_prediction_over_http(service: RunningService) -> None:
    """The issue's repro: true, false, true for one request_id used to give 201, 201, 201."""
    with service.client() as client:
        answer = client.post("/predict", json={"customer_id": EXAMPLE_CUSTOMER_ID}).json()
        body = {"customer_id": EXAMPLE_CUSTOMER_ID, "request_id": answer["request_id"]}
        sent = [client.post("/feedback", json={**body, "churned": churned})
                for churned in (True, False, True)]
        other = client.post("/predict", json={"customer_id": "5575-GNVDE"}).json()
        batch = client.post("/feedback/batch", json={"outcomes": [
            {"customer_id": "5575-GNVDE", "churned": False, "request_id": other["request_id"]},
            {**body, "churned": False}]})
        batch_ok = client.post("/feedback/batch", json={"outcomes": [
            {"customer_id": "5575-GNVDE", "churned": False, "request_id": other["request_id"]},
            {**body, "churned": True}]})
        unparsable = client.post("/feedback", content=b'{"customer_id": ',
                                 headers={"content-type": "application/json"})
        metrics = client.get("/metrics").text
    assert [r.status_code for r in sent] == [201, 409, 200]
    assert sent[2].json() == {**sent[0].json(), "created": False}
    assert "already has the outcome churned=true" in sent[1].json()["detail"]
    assert batch.status_code == 409 and batch.json()["detail"].startswith("outcomes[1]: ")
    assert batch_ok.status_code == 200
    assert [item["created"] for item in batch_ok.json()] == [True, False]
    assert unparsable.status_code == 400
    assert metric_value(metrics, "churnops_errors_total", endpoint="/feedback",
                        kind="conflicting_feedback") == 1
    rows = _log_rows(service, "1=1")
    with create_engine(service.settings.inference_log_url).connect() as connection:
        outcomes = connection.execute(text("SELECT request_id, churned FROM feedback")).all()
    assert sorted(outcomes) == sorted([(answer["request_id"], True),
                                       (other["request_id"], False)])
    assert len(rows) == 2


def test_api_key(tmp_path: Path, champion: Champion, champion_server: ModelServer,
                 start_service) -> None:
    settings = service_settings(tmp_path, api_key="s3cret")
    write_deployment(settings.deployment_url, LiveDeployment(
        primary=model_deployment(champion, champion_server.endpoint)))
    service = start_service(settings)
    body = {"customer_id": EXAMPLE_CUSTOMER_ID}
    with service.client() as client:
        assert client.post("/predict", json=body).status_code == 401
        assert client.post("/predict", json=body,
                           headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.post("/predict", json=body,
                           headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.post("/feedback", json={**body, "churned": True}).status_code == 401
        for write, payload in (("/predict/batch", {"requests": [body]}),
                               ("/feedback/batch", {"outcomes": [{**body, "churned": True}]})):
            assert client.post(write, json=payload).status_code == 401, write
        for open_path in ("/health", "/ready", "/metrics", "/docs", "/openapi.json"):
            assert client.get(open_path).status_code == 200, open_path


def test_openapi_has_examples_from_the_real_customer(service: RunningService,
                                                     clean_customers) -> None:
    with service.client() as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    examples = spec["paths"]["/predict"]["post"]["requestBody"]["content"][
        "application/json"]["examples"]
    assert examples["by_id"]["value"] == {"customer_id": EXAMPLE_CUSTOMER_ID}
    row = clean_customers.set_index(schema.ID_COLUMN).loc[EXAMPLE_CUSTOMER_ID]
    expected = {name: row[name].item() if hasattr(row[name], "item") else row[name]
                for name in schema.FEATURE_NAMES}
    assert examples["by_features"]["value"]["features"] == expected
    features_schema = spec["components"]["schemas"]["CustomerFeatures"]
    assert features_schema["additionalProperties"] is False
    assert features_schema["properties"]["Contract"]["enum"] == [
        "Month-to-month", "One year", "Two year"]
    assert features_schema["properties"]["tenure"]["maximum"] == 120


def test_docs_render_in_a_browser_without_network(service: RunningService) -> None:
    """Swagger UI and ReDoc come from the service itself: every request that leaves
    loopback is aborted, and the operations are still listed."""
    browser_path = chromium()
    from playwright.sync_api import sync_playwright

    left_loopback: list[str] = []

    def loopback_only(route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            left_loopback.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=BROWSER_ARGS)
        page = browser.new_page()
        page.route("**/*", loopback_only)
        page.goto(f"{service.url}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        predict = page.locator(".opblock-post [data-path='/predict']")
        assert predict.count() == 1
        page.goto(f"{service.url}/redoc")
        page.wait_for_selector("text=/predict", timeout=30_000)
        browser.close()
    assert all(urlsplit(url).scheme not in ("http", "https") for url in left_loopback), \
        left_loopback
    with service.client() as client:
        metrics = client.get("/metrics").text
    assert metric_value(metrics, "churnops_requests_total",
                        endpoint="/openapi.json", status="200", variant="none") >= 2
    assert metric_value(metrics, "churnops_requests_total",
                        endpoint="/docs-assets", status="200", variant="none") >= 3
    assert metric_value(metrics, "churnops_requests_total",
                        endpoint="unmatched", status="200", variant="none") == 0



def test_metrics_carry_the_latest_production_monitoring_run(service: RunningService) -> None:
    """What the Grafana dashboard draws: read from the deployment record at each scrape."""
    from churnops.deployment_record import DeploymentRecord

    with service.client() as client:
        assert "churnops_monitoring_run" not in client.get("/metrics").text  # no run yet
    figures = {"live_roc_auc": 0.84, "features_moved": 2.0, "prediction_drift_p": 0.3,
               "live_labelled_rows": 900.0, "estimated_roc_auc": 0.83,
               "estimated_roc_auc_low": 0.8, "estimated_roc_auc_high": 0.86}
    with DeploymentRecord(service.settings.deployment_url) as record:
        for run, severity in ((1, "info"), (2, "warn")):
            record.record_loop_run("production", run, {}, {
                "severity": severity, "findings": [], "figures": figures, "actions": []})
        record.record_loop_run("simulation-x", 3, {}, {
            "severity": "act", "findings": [], "figures": figures, "actions": []})
    with service.client() as client:
        metrics = client.get("/metrics").text
    controller = {"controller": "production"}
    assert metric_value(metrics, "churnops_monitoring_run", **controller) == 2
    assert metric_value(metrics, "churnops_monitoring_severity", **controller) == 1
    assert metric_value(metrics, "churnops_monitoring_live_roc_auc", **controller) == 0.84
    assert metric_value(metrics, "churnops_monitoring_features_moved", **controller) == 2
    assert metric_value(metrics, "churnops_monitoring_estimated_roc_auc", bound="low",
                        **controller) == 0.8
