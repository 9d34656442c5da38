"""The simulator's scenarios, the shift tests, and the monitoring decision at its thresholds."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import recall_score, roc_auc_score

from churnops import data, schema
from churnops.drift import (
    DriftFigures,
    OutcomeShift,
    Shift,
    column_shift,
    contingency_p,
    outcome_shift,
    shift_figures,
)
from churnops.estimation import EstimatedPerformance
from churnops.monitoring import (
    PerformanceFigures,
    RefusedRequests,
    alert,
    decide,
    live_performance,
)
from churnops.settings import SCENARIOS as SETTINGS_SCENARIOS
from churnops.settings import (
    BusinessSettings,
    MonitoringSettings,
    MonitoringWindow,
    SimulationSettings,
)
from serving.inference_log import InferenceLog
from simulation.scenarios import SCENARIOS, price_rise_segment
from simulation.traffic import LogDriver, Simulation, TrafficSimulator
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


def test_production_is_new_customers_from_the_future_pool(clean_customers) -> None:
    days = [simulator(clean_customers, seed=7).day(day).requests for day in (1, 2)]
    ids = pd.concat(days)[schema.ENTITY_KEY]
    assert ids.is_unique
    templates = ids.str.rsplit("-", n=1).str[0]
    known = set(clean_customers[schema.ID_COLUMN])
    assert set(templates) <= known and not set(ids) & known
    pools = data.pool_of(clean_customers[schema.ID_COLUMN])
    future = set(clean_customers.loc[pools == "future", schema.ID_COLUMN])
    assert set(templates) <= future


def test_every_pool_holds_a_share_of_customers_for_good(clean_customers) -> None:
    ids = clean_customers[schema.ID_COLUMN]
    pools = data.pool_of(ids)
    shares = pools.value_counts(normalize=True)
    for name, share in data.POOLS:
        assert abs(shares[name] - share) < 0.02
    shuffled = ids.sample(frac=1.0, random_state=1)
    pd.testing.assert_series_equal(data.pool_of(shuffled).sort_index(), pools)


def test_no_drift_before_the_onset_day(clean_customers) -> None:
    none, drifting = simulator(clean_customers), simulator(clean_customers, "mixed", onset_day=4)
    for day in (1, 2, 3):
        pd.testing.assert_frame_equal(none.day(day).requests, drifting.day(day).requests)
    assert drifting.drifting(4) and not drifting.drifting(3) and not none.drifting(30)


def test_data_drift_moves_the_customer_mix_and_raises_bills(clean_customers) -> None:
    before = simulator(clean_customers, requests_per_day=3000).day(5).requests
    after = simulator(clean_customers, "data_drift", strength=1.0, requests_per_day=3000
                      ).day(5).requests
    for column, value in (("InternetService", "Fiber optic"), ("Contract", "Month-to-month"),
                          ("PaymentMethod", "Electronic check")):
        assert (after[column] == value).mean() > (before[column] == value).mean() + 0.05
    assert after["MonthlyCharges"].mean() > before["MonthlyCharges"].mean() * 1.1


def test_concept_drift_keeps_the_inputs_and_changes_who_churns(clean_customers) -> None:
    before = simulator(clean_customers).day(5).requests
    after = simulator(clean_customers, "concept_drift", strength=0.8).day(5).requests
    features = list(schema.FEATURE_NAMES)
    pd.testing.assert_frame_equal(before[features], after[features])
    segment = price_rise_segment(after)
    assert segment.any()
    assert (after["churned"] >= before["churned"]).all()  # only new churners
    assert after["churned"][segment].mean() > before["churned"][segment].mean() + 0.4
    assert (after["churned"][~segment] == before["churned"][~segment]).all()


def test_the_library_is_the_settings_list_and_each_default_is_on_its_grid() -> None:
    assert set(SCENARIOS) == set(SETTINGS_SCENARIOS)
    for scenario in SCENARIOS.values():
        assert scenario.default in scenario.strengths or scenario.kind == "none"


@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items() if s.touches])
def test_a_scenario_moves_only_the_features_it_names(clean_customers, name: str) -> None:
    before = simulator(clean_customers, requests_per_day=2000).day(5).requests
    after = simulator(clean_customers, name, requests_per_day=2000).day(5).requests
    for column in schema.FEATURE_NAMES:
        moved = not before[column].equals(after[column])
        assert moved == (column in SCENARIOS[name].touches), column


def test_an_acquisition_brings_new_customers(clean_customers) -> None:
    before = simulator(clean_customers, requests_per_day=3000).day(5).requests
    after = simulator(clean_customers, "acquisition", strength=0.3, requests_per_day=3000
                      ).day(5).requests
    new = (after["tenure"] <= 6).mean() - (before["tenure"] <= 6).mean()
    assert 0.2 < new < 0.3  # 30 % new, less those who were new anyway


def test_gradual_drift_ramps_up_over_two_weeks(clean_customers) -> None:
    gradual = simulator(clean_customers, "gradual", strength=0.7, onset_day=4)
    ramp = [gradual.strength_on(day) for day in (3, 4, 10, 17, 30)]
    assert ramp == pytest.approx([0.0, 0.05, 0.35, 0.7, 0.7])


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


def test_outcomes_are_drawn_from_the_world_not_copied(clean_customers) -> None:
    day = simulator(clean_customers, requests_per_day=5000).day(1).requests
    templates = day[schema.ENTITY_KEY].str.rsplit("-", n=1).str[0]
    copies = day.groupby(templates)["churned"].agg(["mean", "size"])
    copies = copies[copies["size"] >= 5]
    # Copies of one customer share features, not their outcome.
    assert ((copies["mean"] > 0) & (copies["mean"] < 1)).mean() > 0.3
    assert abs(day["churned"].mean() - data.label(clean_customers).mean()) < 0.03


def test_a_burst_of_missing_values_is_refused_logged_and_flagged(clean_customers,
                                                                 tmp_path) -> None:
    traffic = simulator(clean_customers, "missing_values", strength=0.1,
                        requests_per_day=1000).day(5)
    complete = traffic.complete()
    assert 0.07 < (~complete).mean() < 0.13
    assert set(traffic.refusals()) == {"TotalCharges: missing"}
    assert all(p["features"]["TotalCharges"] is None
               for p, ok in zip(traffic.payloads(), complete, strict=True) if not ok)
    log = InferenceLog(f"sqlite:///{tmp_path / 'log.db'}")
    ids = LogDriver(log, lambda frame: np.full(len(frame), 0.3), "1", 0.5).predict(traffic)
    assert [i is None for i in ids] == list(~complete)
    since, until = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
    refused = RefusedRequests.of(len(log.answered_between(since, until)),
                                 log.refused_between(since, until))
    log.close()
    assert (refused.requests, refused.refused) == (1000, (~complete).sum())
    assert refused.fields == {"TotalCharges": refused.refused}
    decision = decide(drift(), None, [], SETTINGS, refused=refused)
    assert decision.severity == "act" and decision.recommended_action == "investigate"
    assert decision.reasons[0].startswith(
        f"act: requests refused as invalid: {refused.refused} of 1000")
    one = RefusedRequests(requests=300, refused=1, fields={"TotalCharges": 1})
    warned = decide(drift(), None, [], SETTINGS, refused=one)
    assert warned.severity == "warn" and warned.recommended_action == "none"
    assert warned.findings[-1].subjects == ["TotalCharges"]


def test_bad_simulation_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="scenario"):
        SimulationSettings(scenario="weather")
    with pytest.raises(ValueError, match="strength"):
        SimulationSettings(strength=-0.1)


# The shift tests, and the Evidently report that shows them -----------------------------------


def _reference(clean_customers: pd.DataFrame) -> pd.DataFrame:
    frame = clean_customers[data.in_pools(clean_customers, "reference")]
    frame = frame[list(schema.FEATURE_NAMES)]
    return frame.assign(prediction=np.random.default_rng(0).random(len(frame)))


def _report(reference: pd.DataFrame, current: pd.DataFrame) -> dict:
    """The drift report exactly as the stack's Evidently validator builds it."""
    from evidently.legacy.report import Report

    report = Report(metrics=[m.to_evidently_metric() for m in drift_metrics(SETTINGS)])
    report.run(reference_data=reference, current_data=current, column_mapping=column_mapping())
    return report.as_dict()


def test_the_report_shows_the_decisions_own_tests(clean_customers) -> None:
    reference = _reference(clean_customers)
    drifted = simulator(clean_customers, "data_drift", seed=3).day(6).requests[
        list(schema.FEATURE_NAMES)]
    drifted = drifted.assign(prediction=np.random.default_rng(1).random(len(drifted)) ** 3)
    figures = shift_figures(reference, drifted, "prediction")
    results = {m["metric"]: m["result"] for m in _report(reference, drifted)["metrics"]}
    columns = results["DataDriftTable"]["drift_by_columns"]
    for shift in figures.features:
        assert columns[shift.column]["drift_score"] == pytest.approx(shift.p_value, abs=1e-12)
        assert columns[shift.column]["stattest_name"].startswith(
            "K-S" if shift.test == "ks" else "chi-square contingency")
    assert results["ColumnDriftMetric"]["drift_score"] == pytest.approx(
        figures.prediction.p_value, abs=1e-12)
    assert {"InternetService", "PaymentMethod", "MonthlyCharges"} <= {
        s.column for s in figures.flagged(SETTINGS.alpha)}
    assert figures.prediction.p_value < 1e-6 and "mean p(churn)" in figures.prediction.change


def test_the_contingency_test_holds_its_level_with_a_small_reference() -> None:
    """Evidently's chisquare treats the reference's shares as exact; the two-sample test
    does not. Same multinomial on both sides, 40-row references, 1,000 pairs."""
    from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test

    rng = np.random.default_rng(5)
    shares = [0.55, 0.25, 0.2]
    pairs = [(pd.Series(rng.choice(3, 40, p=shares)), pd.Series(rng.choice(3, 300, p=shares)))
             for _ in range(1000)]
    two_sample = np.mean([contingency_p(ref, cur) <= 0.05 for ref, cur in pairs])
    goodness_of_fit = np.mean([_chi_stat_test(ref, cur, None, 0.05)[0] <= 0.05
                               for ref, cur in pairs])
    assert two_sample <= 0.07 and goodness_of_fit >= 0.3


def test_changes_are_named_with_their_size() -> None:
    before = pd.Series([60.0, 70.0, 80.0] * 50)
    assert column_shift("MonthlyCharges", before, before * 1.11).change == (
        "MonthlyCharges +11% (mean 70 -> 77.7)")
    contract = column_shift("Contract", pd.Series(["Month-to-month"] * 55 + ["Two year"] * 45),
                            pd.Series(["Month-to-month"] * 71 + ["Two year"] * 29))
    assert contract.test == "chi2_contingency"
    assert contract.change == "Contract: Month-to-month 55% -> 71%"
    assert column_shift("SeniorCitizen", pd.Series([0, 1] * 50), pd.Series([0] * 100)).test == (
        "chi2_contingency")


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



def scored_outcomes(rng: np.random.Generator, rows: int, concept: float = 0.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Scores that are calibrated p(churn); with ``concept``, the low-score half churns
    with that probability on top, as a concept drift makes loyal customers leave."""
    scores = 1 / (1 + np.exp(-rng.normal(-1.2, 1.3, rows)))
    churned = rng.random(rows) < scores
    churned |= (scores < np.median(scores)) & (rng.random(rows) < concept)
    return scores, churned.astype(int)


def test_the_outcome_test_holds_its_level_for_any_holdout_size() -> None:
    rng = np.random.default_rng(5)
    for holdout_rows in (150, 1400):
        p_values = [outcome_shift(*scored_outcomes(rng, holdout_rows),
                                  *scored_outcomes(rng, 900)).p_value for _ in range(300)]
        assert 0.025 <= np.mean(np.array(p_values) <= 0.05) <= 0.08


def test_the_outcome_test_sees_a_change_in_who_churns() -> None:
    rng = np.random.default_rng(6)
    shifted = outcome_shift(*scored_outcomes(rng, 1400), *scored_outcomes(rng, 900, 0.3))
    assert shifted.p_value < 1e-6 and shifted.rows == 900
    assert shifted.churn_rate > shifted.expected_churn_rate + 0.1
    one_outcome = outcome_shift(np.array([0.2, 0.7]), np.array([0, 1]),
                                np.array([0.2, 0.7]), np.array([0, 0]))
    assert one_outcome is None

# The decision, its severities and its error rate ---------------------------------------------


def shift(column: str, p_value: float) -> Shift:
    return Shift(column=column, test="ks", p_value=p_value,
                 change=f"{column} +11% (mean 1 -> 1.11)")


def drift(rows: int = 300, moved: dict[str, float] | None = None, prediction_p: float = 0.5
          ) -> DriftFigures:
    """19 features at p = 0.5 but those in ``moved``, and p(churn) at ``prediction_p``."""
    p_values = {name: 0.5 for name in schema.FEATURE_NAMES} | (moved or {})
    return DriftFigures(rows=rows, reference_rows=1400,
                        features=[shift(name, p) for name, p in p_values.items()],
                        prediction=shift("prediction", prediction_p))


# Below these a feature's p-value is flagged: the level over the 19 features.
ACT = SETTINGS.alpha / 2 / len(schema.FEATURE_NAMES)
WARN = SETTINGS.warn_alpha / len(schema.FEATURE_NAMES)
BROAD = {"Contract": ACT / 2, "tenure": ACT / 3, "PaymentMethod": ACT / 10}


def performance(roc_auc: float | None, rows: int = 600, baseline: float = 0.84,
                positives: int = 160) -> PerformanceFigures:
    return PerformanceFigures(labelled_rows=rows, positives=positives, roc_auc=roc_auc,
                              recall=None, value_per_customer=None, baseline_roc_auc=baseline)


def test_quiet_figures_recommend_nothing() -> None:
    decision = decide(drift(), performance(0.84), [], SETTINGS)
    assert (decision.drift_detected, decision.performance_degraded) == (False, False)
    assert decision.recommended_action == "none" and decision.severity == "info"


def test_several_features_or_the_predictions_moving_act() -> None:
    for figures in (drift(moved=BROAD), drift(prediction_p=SETTINGS.alpha / 2)):
        decision = decide(figures, None, [], SETTINGS)
        assert decision.drift_detected and decision.recommended_action == "retrain"
        assert decision.severity == "act"
    broad = decide(drift(moved=BROAD), None, [], SETTINGS)
    assert broad.moved_features == sorted(BROAD)
    assert "input drift: 3 of 19 features moved: PaymentMethod +11%" in broad.reasons[0]
    two = dict(list(BROAD.items())[:2])
    assert not decide(drift(moved=two), None, [], SETTINGS).drift_detected
    weak = decide(drift(prediction_p=SETTINGS.alpha / 2 * 1.01), None, [], SETTINGS)
    assert not weak.drift_detected and weak.severity == "warn"


def test_one_moved_feature_is_named_as_a_warning() -> None:
    decision = decide(drift(moved={"MonthlyCharges": WARN}), None, [], SETTINGS)
    assert decision.recommended_action == "none" and decision.severity == "warn"
    assert decision.moved_features == ["MonthlyCharges"]
    assert decision.reasons[0].startswith("warn: feature drift: MonthlyCharges +11%")
    assert decide(drift(moved={"MonthlyCharges": WARN * 1.01}), None, [], SETTINGS
                  ).severity == "info"


def test_too_few_rows_give_no_drift_verdict() -> None:
    decision = decide(drift(rows=SETTINGS.min_rows - 1, moved=BROAD), None, [], SETTINGS)
    assert not decision.drift_detected
    assert any("no drift verdict" in reason for reason in decision.reasons)


def test_a_performance_drop_acts_only_when_large_and_significant() -> None:
    limit = 0.84 - SETTINGS.max_roc_auc_drop
    assert not decide(drift(), performance(limit + 1e-9), [], SETTINGS).performance_degraded
    below = decide(drift(), performance(limit - 0.03, rows=3000, positives=800), [], SETTINGS)
    assert below.performance_degraded and below.recommended_action == "retrain"
    assert "performance degraded" in below.reasons[0]
    noisy = decide(drift(), performance(limit - 0.001, rows=300, positives=40), [], SETTINGS)
    assert not noisy.performance_degraded and noisy.severity == "warn"


def test_the_holdout_figure_counts_as_a_sample_too() -> None:
    # A drop significant against an exact baseline is not once the baseline is known to come
    # from a holdout of 1,400 customers: its sampling error adds to the live figure's.
    live = performance(0.84 - SETTINGS.max_roc_auc_drop - 0.015, rows=900, positives=240)
    assert decide(drift(), live, [], SETTINGS).severity == "act"
    sampled = live.model_copy(update={"baseline_rows": 1400, "baseline_positives": 370})
    assert decide(drift(), sampled, [], SETTINGS).severity == "warn"
    figures = live_performance(pd.DataFrame({"churned": [0, 1], "prediction": [0.2, 0.7],
                                             "MonthlyCharges": [50.0, 80.0]}),
                               0.5, {"roc_auc": 0.84, "rows": 1400, "positives": 370},
                               BusinessSettings())
    assert (figures.baseline_rows, figures.baseline_positives) == (1400, 370)



def test_outcomes_that_no_longer_follow_the_scores_act() -> None:
    shifted = OutcomeShift(rows=900, p_value=SETTINGS.alpha / 2, churn_rate=0.31,
                           expected_churn_rate=0.24)
    figures = performance(0.82).model_copy(update={"outcomes": shifted})
    decision = decide(drift(), figures, [], SETTINGS)
    assert decision.performance_degraded and decision.recommended_action == "retrain"
    assert decision.reasons[0] == (
        "act: outcomes no longer follow the scores (concept drift): 31.0% of 900 churned "
        "where the holdout's scores expect 24.0% (p = 0.0005)")
    weaker = figures.model_copy(update={"outcomes": shifted.model_copy(
        update={"p_value": SETTINGS.alpha})})
    assert decide(drift(), weaker, [], SETTINGS).severity == "warn"
    rng = np.random.default_rng(7)
    scores, churned = scored_outcomes(rng, 600)
    frame = pd.DataFrame({"churned": churned, "prediction": scores,
                          "MonthlyCharges": rng.uniform(20, 110, 600)})
    live = live_performance(frame, 0.5, {"roc_auc": 0.84}, BusinessSettings(), holdout=frame)
    assert live.outcomes is not None and live.outcomes.p_value == pytest.approx(1.0)

def test_an_expected_drop_warns_before_the_outcomes() -> None:
    baseline = performance(0.84)
    low = EstimatedPerformance(rows=300, roc_auc=0.75, roc_auc_low=0.72, roc_auc_high=0.78,
                               roc_auc_on_outcomes=0.83)
    decision = decide(drift(), baseline, [], SETTINGS, estimated=low)
    assert decision.severity == "warn" and decision.recommended_action == "none"
    assert decision.reasons[0] == (
        "warn: expected performance drop, before outcomes: estimated ROC-AUC 0.750 "
        "[0.720, 0.780] on today's 300 predictions; on the 600 outcomes in: estimated 0.830, "
        "realised 0.840, below the training-time 0.840 by more than 0.05")
    near = low.model_copy(update={"roc_auc_high": 0.84 - SETTINGS.max_roc_auc_drop + 0.001})
    assert decide(drift(), baseline, [], SETTINGS, estimated=near).severity == "info"


def test_too_few_labels_give_no_performance_verdict() -> None:
    few = decide(drift(), performance(0.5, rows=SETTINGS.min_labels - 1), [], SETTINGS)
    assert not few.performance_degraded
    assert any("no performance verdict" in reason for reason in few.reasons)


def test_failing_inputs_call_for_an_investigation_first() -> None:
    decision = decide(drift(moved=BROAD), None, ["tenure: 3 values above 120"], SETTINGS)
    assert decision.recommended_action == "investigate"
    assert "tenure: 3 values above 120" in " ".join(decision.reasons)


def test_window_counts_back_from_its_end() -> None:
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
        alert(decide(drift(moved={"MonthlyCharges": WARN}), None, [], SETTINGS), url)
        alert(decide(drift(moved=BROAD), None, [], SETTINGS), url)
    finally:
        server.shutdown()
        server.server_close()
    warned, acted = server.received
    assert warned["text"].startswith("churnops monitoring: warn, none (warn: feature drift: "
                                     "MonthlyCharges +11%")
    assert acted["decision"]["recommended_action"] == "retrain"
    assert acted["text"].startswith("churnops monitoring: act, retrain (act: input drift")
    assert "ALERT" in caplog.text


def test_a_dead_webhook_is_logged_not_raised(caplog) -> None:
    alert(decide(drift(moved=BROAD), None, [], SETTINGS), "http://127.0.0.1:9/hook")
    assert "webhook" in caplog.text
