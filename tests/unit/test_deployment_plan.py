"""The live deployment description, version choice, smoke checks and status."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml

from churnops import paths
from churnops.deployment import (
    LiveDeployment,
    ServedModel,
    SmokeTestError,
    choose_versions,
    format_status,
    probe_endpoint,
)
from churnops.settings import CanaryBounds, merge, run_config
from serving.api_models import EXAMPLE_FEATURES

SUITE = {"name": "churn_features", "expectations": []}


def endpoint(version: str, port: int = 8000) -> ServedModel:
    return ServedModel(version=version, model_uri=f"models:/churn-model/{version}",
                       endpoint=f"http://127.0.0.1:{port}/invocations", threshold=0.43,
                       validation_suite=SUITE, service_id=f"id-{version}")


def canary(share: float = 0.1) -> LiveDeployment:
    return LiveDeployment(strategy="canary", primary=endpoint("1"),
                          candidate=endpoint("2", 8001), canary_share=share)


# The published document ------------------------------------------------------------------


def test_the_published_document_has_every_field_a_reader_needs() -> None:
    live = canary(0.25)
    document = live.model_dump(mode="json")
    assert LiveDeployment.model_validate(json.loads(json.dumps(document))) == live
    assert set(document) == {"strategy", "primary", "candidate", "canary_share", "bounds",
                             "updated_at", "rollback"}
    assert set(document["primary"]) == {"version", "model_uri", "endpoint", "threshold",
                                        "validation_suite", "service_id"}
    assert document["bounds"] == {"max_error_rate": 0.05, "min_agreement": 0.8,
                                  "min_requests": 50}


def test_the_default_record_is_in_the_state_folder() -> None:
    assert paths.deployment_record_url({}) == f"sqlite:///{paths.state_dir() / 'deployment.db'}"
    assert paths.deployment_record_url({"CHURNOPS_DEPLOYMENT_URL": "postgresql://h/db"}) \
        == "postgresql://h/db"


@pytest.mark.parametrize("kwargs", [
    {"strategy": "basic", "candidate": endpoint("2")},
    {"strategy": "canary"},
    {"strategy": "shadow", "candidate": endpoint("2"), "canary_share": 0.2},
    {"strategy": "canary", "candidate": endpoint("2"), "canary_share": 1.5},
    {"strategy": "blue-green"},
    {"strategy": "shadow", "candidate": endpoint("1", 8001)},
])
def test_inconsistent_deployments_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        LiveDeployment(primary=endpoint("1"), **kwargs)


def test_slots_name_the_candidate_by_strategy() -> None:
    live = canary()
    assert live.candidate_slot == "canary" and live.model("canary") == live.candidate
    assert live.model("primary") == live.primary
    with pytest.raises(ValueError, match="no shadow"):
        live.model("shadow")
    promoted = live.promoted()
    assert (promoted.strategy, promoted.primary, promoted.candidate) == \
        ("basic", live.candidate, None)
    assert LiveDeployment(primary=endpoint("1")).candidate_slot is None


def test_bounds_reject_unknown_keys() -> None:
    with pytest.raises(ValueError):
        CanaryBounds(max_error_rate=0.1, max_latency=3)


# Choosing versions --------------------------------------------------------------------------


@pytest.mark.parametrize(("strategy", "requested", "expected"), [
    ("basic", None, ("2", None)),
    ("basic", "3", ("3", None)),
    ("canary", None, ("2", "10")),
    ("shadow", "1", ("2", "1")),
])
def test_choose_versions(strategy: str, requested: str | None, expected: tuple) -> None:
    assert choose_versions(strategy, requested, "2", ["1", "2", "3", "10"]) == expected


@pytest.mark.parametrize(("strategy", "requested", "champion", "registered", "message"), [
    ("basic", None, None, ["1"], "no champion"),
    ("basic", "7", "1", ["1"], "not registered"),
    ("canary", "2", None, ["1", "2"], "needs a champion"),
    ("canary", "1", "1", ["1", "2"], "is the champion"),
    ("shadow", None, "1", ["1"], "No version besides"),
])
def test_choose_versions_explains_what_is_missing(
    strategy: str, requested: str | None, champion: str | None, registered: list[str],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        choose_versions(strategy, requested, champion, registered)


# Smoke checks -------------------------------------------------------------------------------


ROW = dict(EXAMPLE_FEATURES)


class _Answers(BaseHTTPRequestHandler):
    """Answers ``POST /invocations`` with the status and body the server was given."""

    def do_POST(self) -> None:  # noqa: N802 (the handler API)
        self.rfile.read(int(self.headers["Content-Length"]))
        status, body = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[HTTPServer]:
    httpd = HTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_probe_measures_latency_of_good_answers(server: HTTPServer) -> None:
    server.answer = (200, '{"predictions": [[0.25, 0.75]]}')
    target = endpoint("1", server.server_port)
    result = probe_endpoint(target, [ROW] * 5)
    assert (result.version, result.requests) == ("1", 5)
    assert 0 < result.latency_p50_ms <= result.latency_p99_ms


@pytest.mark.parametrize(("answer", "message"), [
    ((500, '{"error_code": "INTERNAL_ERROR"}'), "HTTP 500"),
    ((200, "not json"), "not JSON"),
    ((200, '{"predictions": [1]}'), "no class probabilities"),
    ((200, '{"predictions": [[0.5, 1.5]]}'), r"outside \[0, 1\]"),
    ((200, '{"predictions": [[0.5, 0.5], [0.5, 0.5]]}'), "2 rows"),
])
def test_probe_fails_on_wrong_answers(server: HTTPServer, answer: tuple, message: str) -> None:
    server.answer = answer
    with pytest.raises(SmokeTestError, match=message):
        probe_endpoint(endpoint("1", server.server_port), [ROW])


def test_probe_fails_when_nothing_listens() -> None:
    with pytest.raises(SmokeTestError, match="no answer"):
        probe_endpoint(endpoint("1", 9), [ROW], timeout=2)


# Status -------------------------------------------------------------------------------------


def test_status_of_each_strategy() -> None:
    assert "Nothing is deployed" in format_status(None)

    basic = format_status(LiveDeployment(strategy="basic", primary=endpoint("1")),
                          {"1": "running"})
    assert "Strategy: basic" in basic
    assert "churn-model v1" in basic and "100 %" in basic and "[running]" in basic

    shadow = format_status(LiveDeployment(strategy="shadow", primary=endpoint("1"),
                                          candidate=endpoint("2", 8001)))
    assert "100 % copy" in shadow and ":8001/invocations" in shadow

    status = format_status(canary(0.1), {"1": "running", "2": "gone"})
    lines = status.splitlines()
    assert lines[1].split()[0] == "primary" and "90 %" in lines[1] and "[running]" in lines[1]
    assert lines[2].split()[0] == "canary" and "10 %" in lines[2] and "[gone]" in lines[2]
    assert "agreement >= 0.8" in status


def test_status_shows_the_last_rollback() -> None:
    live = canary(0.1).rolled_back("error rate 0.2 > 0.05")
    assert live.rollback.version == canary().candidate.version
    assert f"last rollback: v{live.rollback.version} at " in format_status(live)
    assert format_status(live).endswith(": error rate 0.2 > 0.05")


# Run configuration --------------------------------------------------------------------------


def test_command_line_overrides_the_deployment_config() -> None:
    path = paths.CONFIG_DIR / "deployment.yaml"
    config = yaml.safe_load(path.read_text())
    defaults = config["parameters"]
    assert (defaults["strategy"], defaults["canary_share"]) == ("basic", 0.1)
    CanaryBounds(**defaults["bounds"])

    assert run_config(path) == config
    merged = run_config(path, {"strategy": "canary", "model_version": "4",
                               "bounds": {"min_requests": 30}})
    assert merged["parameters"] == {**defaults, "strategy": "canary", "model_version": "4",
                                    "bounds": {**defaults["bounds"], "min_requests": 30}}


def test_merge_is_recursive_and_leaves_its_inputs_alone() -> None:
    base = {"a": {"b": 1, "c": {"d": 2}}, "e": [1]}
    override = {"a": {"c": {"d": 3}, "f": 4}, "e": [2]}
    assert merge(base, override) == {"a": {"b": 1, "c": {"d": 3}, "f": 4}, "e": [2]}
    assert base == {"a": {"b": 1, "c": {"d": 2}}, "e": [1]}


def test_a_rollback_keeps_the_primary_as_published() -> None:
    """The service publishes a rolled-back canary; status reads the result."""
    live = canary(0.25).rolled_back("error rate 0.40 > 0.05")
    assert (live.strategy, live.candidate, live.canary_share) == ("basic", None, 0.0)
    assert live.primary == canary().primary  # service_id survived the rollback
    assert "error rate 0.40 > 0.05" in format_status(live)
