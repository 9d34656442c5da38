"""The monitoring pipeline on the real local stack, over an inference log the simulator fills.

Traffic is written with the simulator's ``LogDriver`` (the records the service would log,
scored by the real champion model) so that each test controls its window exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from churnops import REGISTERED_MODEL_NAME, paths
from churnops.monitoring import MonitoringDecision
from churnops.settings import MonitoringSettings, SimulationSettings
from serving.inference_log import InferenceLog
from simulation.traffic import LogDriver, Simulation, TrafficSimulator

pytestmark = pytest.mark.slow

SETTINGS = yaml.safe_load((paths.CONFIG_DIR / "monitoring.yaml").read_text())["parameters"][
    "settings"]


@dataclass
class Window:
    start: datetime
    end: datetime


@dataclass
class Trained:
    version: str
    threshold: float


@pytest.fixture(scope="module")
def champion(training_run, zenml_client) -> Trained:
    """The session's trained version, named explicitly: other tests move the alias."""
    version = training_run.steps["register_model_version"].outputs["model_version"][0].load()
    client = zenml_client.active_stack.model_registry.mlflow_client
    tags = client.get_model_version(REGISTERED_MODEL_NAME, version).tags
    return Trained(str(version), float(tags["decision_threshold"]))


@pytest.fixture(scope="module")
def scorer(champion, zenml_client):
    import mlflow

    mlflow.set_tracking_uri(zenml_client.active_stack.experiment_tracker.get_tracking_uri())
    model = mlflow.sklearn.load_model(f"models:/{REGISTERED_MODEL_NAME}/{champion.version}")
    return lambda frame: model.predict_proba(frame)[:, 1]


STRENGTHS = {"none": 0.0, "data_drift": 1.0, "concept_drift": 0.8}
"""Strong changes: these tests check what the pipeline does with them, not its power."""


def simulate(log: InferenceLog, scorer, champion, clean_customers, scenario: str,
             days: tuple[int, ...], label_delay_days: int = 0) -> Window:
    """Log the given days of a scenario (drift from day 4), outcomes after the delay."""
    config = SimulationSettings(scenario=scenario, strength=STRENGTHS[scenario], onset_day=4,
                                seed=11, label_delay_days=label_delay_days)
    driver = LogDriver(log, scorer, champion.version, champion.threshold)
    simulation = Simulation(TrafficSimulator(clean_customers, config), driver)
    start = datetime.now(UTC)
    for day in days:
        simulation.run_day(day)
    return Window(start, datetime.now(UTC))


def monitor(zenml_client, log_url: str, champion, window: Window
            ) -> tuple[MonitoringDecision, object]:
    from pipelines.monitoring import monitoring_pipeline

    run = monitoring_pipeline.with_options(enable_cache=False)(
        settings=MonitoringSettings(**SETTINGS),
        window={"start": window.start, "end": window.end, "labels_start": window.start},
        model_version=champion.version, inference_log_url=log_url,
    )
    run = zenml_client.get_pipeline_run(run.id)
    return run.steps["decide_on_action"].outputs["monitoring_decision"][0].load(), run


def test_quiet_traffic_then_data_drift(tmp_path: Path, zenml_client, champion, scorer,
                                       clean_customers) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = InferenceLog(url)
    quiet_window = simulate(log, scorer, champion, clean_customers, "none", (1,))
    drift_window = simulate(log, scorer, champion, clean_customers, "data_drift", (5,))

    quiet, quiet_run = monitor(zenml_client, url, champion, quiet_window)
    assert quiet.recommended_action == "none", quiet.reasons
    assert quiet.drift.rows == 300
    assert quiet.model_version == champion.version

    drifted, run = monitor(zenml_client, url, champion, drift_window)
    assert drifted.drift_detected and drifted.recommended_action == "retrain"
    assert "InternetService" in drifted.moved_features
    assert drifted.severity == "act" and drifted.drift.prediction.p_value < SETTINGS["alpha"] / 2
    assert drifted.reasons[0].startswith("act: input drift:")

    # The dashboard shows the Evidently and GX reports; the figures are run metadata.
    report = run.steps["detect_drift"].outputs["drift_report"][0]
    assert report.visualizations, "the drift report has no visualization"
    validation = run.steps["validate_production_inputs"].outputs["production_validation"][0]
    assert validation.load().success and validation.visualizations
    figures = run.run_metadata["monitoring"]
    assert figures["drift_detected"] == 1.0 and figures["features_moved"] >= 3
    decision = run.steps["decide_on_action"].outputs["monitoring_decision"][0]
    assert decision.run_metadata["recommended_action"] == "retrain"  # typed, in the dashboard
    assert decision.run_metadata["severity"] == "act"
    # The reference came through the version's lineage: its ZenML model version.
    deployed = run.steps["load_reference_data"].outputs["deployed_model"][0].load()
    mirror = zenml_client.get_model_version(REGISTERED_MODEL_NAME, deployed.zenml_model_version)
    assert mirror.run_metadata[REGISTERED_MODEL_NAME]["mlflow_version"] == champion.version
    assert quiet_run.run_metadata["monitoring"]["drift_detected"] == 0.0
    assert (paths.reports_dir() / "drift_report.html").stat().st_size > 10_000
    log.close()


def test_concept_drift_shows_in_performance_not_in_inputs(
        tmp_path: Path, zenml_client, champion, scorer, clean_customers) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = InferenceLog(url)
    before = simulate(log, scorer, champion, clean_customers, "concept_drift", (1, 2))
    after = simulate(log, scorer, champion, clean_customers, "concept_drift", (5, 6))

    steady, _ = monitor(zenml_client, url, champion, before)
    assert steady.performance.labelled_rows == 600
    assert not steady.performance_degraded, steady.reasons
    assert steady.performance.outcomes is not None  # tested against v1's holdout

    changed, _ = monitor(zenml_client, url, champion, after)
    performance = changed.performance
    assert not changed.drift_detected, changed.reasons
    assert changed.performance_degraded and changed.recommended_action == "retrain"
    assert performance.roc_auc < performance.baseline_roc_auc - 0.05
    # The outcome test names the change: more churn than the scores expect.
    assert performance.outcomes.churn_rate > performance.outcomes.expected_churn_rate + 0.05
    assert any(r.startswith("act: outcomes no longer follow the scores")
               for r in changed.reasons), changed.reasons
    rows = log.outcomes_between(after.start, after.end, champion.version)
    assert len(rows) == 600 and np.mean([r["churned"] for r in rows]) > 0.3
    log.close()


def test_an_empty_window_gives_no_verdict(tmp_path: Path, zenml_client, champion) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    now = datetime.now(UTC)
    decision, _ = monitor(zenml_client, url, champion, Window(now, now))
    assert decision.recommended_action == "none"
    assert any("no drift verdict" in reason for reason in decision.reasons)
