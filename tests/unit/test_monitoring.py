"""The simulator's scenarios and the monitoring decision at its thresholds."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import recall_score, roc_auc_score

from churnops import schema
from churnops.monitoring import (
    DriftFigures,
    PerformanceFigures,
    alert,
    decide,
    drift_figures,
    live_performance,
)
from churnops.settings import (
    BusinessSettings,
    MonitoringSettings,
    MonitoringWindow,
    SimulationSettings,
)
from simulation.traffic import Simulation, TrafficSimulator, price_rise_segment
from steps.monitoring.drift import column_mapping, drift_metrics

SETTINGS = MonitoringSettings()


def simulator(clean_customers: pd.DataFrame, scenario: str = "none", **config) -> TrafficSimulator:
    return TrafficSimulator(clean_customers, SimulationSettings(scenario=scenario, **config))


# The simulator ------------------------------------------------------------------------------


def test_days_are_deterministic_per_seed(clean_customers) -> None:
    first = simulator(clean_customers, "mixed", seed=7)
    again = simulator(clean_customers, "mixed", seed=7)
    pd.testing.assert_frame_equal(first.day(5).requests, again.day(5).requests)
    assert not first.day(5).requests.equals(first.day(6).requests)
    assert not first.day(5).requests.equals(simulator(clean_customers, "mixed", seed=8)
                                            .day(5).requests)


def test_no_drift_before_the_onset_day(clean_customers) -> None:
    none, drifting = simulator(clean_customers), simulator(clean_customers, "mixed", onset_day=4)
    for day in (1, 2, 3):
        pd.testing.assert_frame_equal(none.day(day).requests, drifting.day(day).requests)
    assert drifting.drifting(4) and not drifting.drifting(3) and not none.drifting(30)


def test_data_drift_moves_the_customer_mix_and_raises_bills(clean_customers) -> None:
    before = simulator(clean_customers, requests_per_day=3000).day(5).requests
    after = simulator(clean_customers, "data_drift", requests_per_day=3000).day(5).requests
    for column, value in (("InternetService", "Fiber optic"), ("Contract", "Month-to-month"),
                          ("PaymentMethod", "Electronic check")):
        assert (after[column] == value).mean() > (before[column] == value).mean() + 0.05
    assert after["MonthlyCharges"].mean() > before["MonthlyCharges"].mean() * 1.1


def test_concept_drift_keeps_the_inputs_and_changes_who_churns(clean_customers) -> None:
    before = simulator(clean_customers).day(5).requests
    after = simulator(clean_customers, "concept_drift").day(5).requests
    features = list(schema.FEATURE_NAMES)
    pd.testing.assert_frame_equal(before[features], after[features])
    segment = price_rise_segment(after)
    assert segment.any()
    assert (after["churned"] >= before["churned"]).all()  # only new churners
    assert after["churned"][segment].mean() > before["churned"][segment].mean() + 0.4
    assert (after["churned"][~segment] == before["churned"][~segment]).all()


def test_outcomes_arrive_after_the_delay(clean_customers) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.delivered: list[tuple[int, str]] = []
            self.day = 0

        def predict(self, traffic) -> list[str]:
            return [f"d{traffic.day}-{i}" for i in range(len(traffic.requests))]

        def feedback(self, outcomes) -> None:
            self.delivered += [(o.due_day, o.request_id) for o in outcomes]

    recorder = Recorder()
    simulation = Simulation(simulator(clean_customers, requests_per_day=5,
                                      label_delay_days=2), recorder)
    counts = [simulation.run_day(day) for day in (1, 2, 3, 4)]
    assert counts == [(5, 0), (5, 0), (5, 5), (5, 5)]
    assert {request_id.split("-")[0] for _, request_id in recorder.delivered} == {"d1", "d2"}


def test_bad_simulation_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="scenario"):
        SimulationSettings(scenario="weather")
    with pytest.raises(ValueError, match="concept_drift_strength"):
        SimulationSettings(concept_drift_strength=1.5)


# Evidently's figures ------------------------------------------------------------------------


def _reference(clean_customers: pd.DataFrame) -> pd.DataFrame:
    frame = clean_customers.sample(1400, random_state=0)[list(schema.FEATURE_NAMES)]
    return frame.assign(prediction=np.random.default_rng(0).random(len(frame)))


def _report(reference: pd.DataFrame, current: pd.DataFrame) -> dict:
    """The drift report exactly as the stack's Evidently validator builds it."""
    from evidently.legacy.report import Report

    report = Report(metrics=[m.to_evidently_metric() for m in drift_metrics(SETTINGS)])
    report.run(reference_data=reference, current_data=current, column_mapping=column_mapping())
    return report.as_dict()


def test_drift_figures_from_a_real_report(clean_customers) -> None:
    reference = _reference(clean_customers)
    rng = np.random.default_rng(1)
    quiet = simulator(clean_customers, seed=3).day(6).requests[list(schema.FEATURE_NAMES)]
    quiet = quiet.assign(prediction=rng.random(len(quiet)))
    drifted = simulator(clean_customers, "data_drift", seed=3).day(6).requests[
        list(schema.FEATURE_NAMES)]
    drifted = drifted.assign(prediction=rng.random(len(drifted)) ** 3)  # lower scores

    calm = drift_figures(_report(reference, quiet), len(quiet))
    assert not calm.dataset_drift and calm.drift_share < SETTINGS.drift_share
    assert not calm.prediction_drift and set(calm.feature_scores) == set(schema.FEATURE_NAMES)

    moved = drift_figures(_report(reference, drifted), len(drifted))
    assert moved.dataset_drift and moved.drift_share >= SETTINGS.drift_share
    assert {"InternetService", "Contract", "PaymentMethod", "MonthlyCharges"} <= set(
        moved.drifted_features)
    assert moved.prediction_drift and moved.prediction_drift_score < 1e-3


# Live performance ---------------------------------------------------------------------------


def test_live_performance_matches_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    proba = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1)
    frame = pd.DataFrame({"churned": y, "prediction": proba,
                          "MonthlyCharges": rng.uniform(20, 110, 400)})
    figures = live_performance(frame, 0.5, {"roc_auc": 0.84}, BusinessSettings())
    assert figures.roc_auc == pytest.approx(roc_auc_score(y, proba))
    assert figures.recall == pytest.approx(recall_score(y, proba >= 0.5))
    assert figures.labelled_rows == 400 and figures.baseline_roc_auc == 0.84
    one_class = live_performance(frame.assign(churned=0), 0.5, {"roc_auc": 0.84},
                                 BusinessSettings())
    assert one_class.roc_auc is None  # undefined, not made up


# The decision at its thresholds --------------------------------------------------------------


def drift(rows: int = 300, dataset_drift: bool = False, prediction_p: float = 0.5
          ) -> DriftFigures:
    return DriftFigures(rows=rows, drift_share=0.3 if dataset_drift else 0.05,
                        drifted_features=["Contract"] * dataset_drift,
                        dataset_drift=dataset_drift, prediction_drift_score=prediction_p,
                        prediction_drift=prediction_p < SETTINGS.prediction_threshold)


def performance(roc_auc: float | None, rows: int = 600, baseline: float = 0.84
                ) -> PerformanceFigures:
    return PerformanceFigures(labelled_rows=rows, roc_auc=roc_auc, recall=None,
                              value_per_customer=None, baseline_roc_auc=baseline)


def test_quiet_window_needs_no_action() -> None:
    decision = decide(drift(), performance(0.84), [], SETTINGS)
    assert (decision.drift_detected, decision.performance_degraded) == (False, False)
    assert decision.recommended_action == "none"


def test_dataset_or_prediction_drift_recommends_retraining() -> None:
    for figures in (drift(dataset_drift=True), drift(prediction_p=0.0009)):
        decision = decide(figures, None, [], SETTINGS)
        assert decision.drift_detected and decision.recommended_action == "retrain"
    assert not decide(drift(prediction_p=0.001), None, [], SETTINGS).drift_detected


def test_too_few_rows_give_no_drift_verdict() -> None:
    decision = decide(drift(rows=SETTINGS.min_rows - 1, dataset_drift=True), None, [], SETTINGS)
    assert not decision.drift_detected
    assert any("no drift verdict" in reason for reason in decision.reasons)


def test_performance_threshold_is_exclusive() -> None:
    at_limit = 0.84 - SETTINGS.max_roc_auc_drop + 1e-9
    assert not decide(drift(), performance(at_limit), [], SETTINGS).performance_degraded
    below = decide(drift(), performance(0.84 - SETTINGS.max_roc_auc_drop - 0.001), [], SETTINGS)
    assert below.performance_degraded and below.recommended_action == "retrain"
    assert "performance degraded" in " ".join(below.reasons)


def test_too_few_labels_give_no_performance_verdict() -> None:
    few = decide(drift(), performance(0.5, rows=SETTINGS.min_labels - 1), [], SETTINGS)
    assert not few.performance_degraded
    assert any("no performance verdict" in reason for reason in few.reasons)


def test_failing_inputs_call_for_an_investigation_first() -> None:
    decision = decide(drift(dataset_drift=True), None, ["tenure: 3 values above 120"], SETTINGS)
    assert decision.recommended_action == "investigate"
    assert "tenure: 3 values above 120" in " ".join(decision.reasons)


def test_window_counts_back_from_its_end() -> None:
    from datetime import UTC, datetime, timedelta

    end = datetime(2026, 1, 10, tzinfo=UTC)
    start, stop, labels_start = MonitoringWindow(hours=24, label_hours=72).resolve(now=end)
    assert (stop - start, stop - labels_start) == (timedelta(hours=24), timedelta(hours=72))


# The alert hook -----------------------------------------------------------------------------


class _Webhook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the handler API)
        self.server.received.append(json.loads(self.rfile.read(
            int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_positive_decision_posts_to_the_webhook(caplog) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        alert(decide(drift(), performance(0.84), [], SETTINGS), url)  # quiet: no post
        alert(decide(drift(dataset_drift=True), None, [], SETTINGS), url)
    finally:
        server.shutdown()
        server.server_close()
    [body] = server.received
    assert body["decision"]["recommended_action"] == "retrain"
    assert body["text"].startswith("churnops monitoring: retrain")
    assert "ALERT" in caplog.text


def test_a_dead_webhook_is_logged_not_raised(caplog) -> None:
    alert(decide(drift(dataset_drift=True), None, [], SETTINGS), "http://127.0.0.1:9/hook")
    assert "webhook" in caplog.text
