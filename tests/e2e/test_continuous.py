"""The closed loop end to end on the real local stack: each scenario, in short runs.

Every day is real: the simulator drives the prediction service over HTTP, the monitoring
pipeline decides, and a retraining goes through the gate and a canary deployment.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import TEST_CONFIGS

pytestmark = pytest.mark.slow

COLUMNS = {"day", "drift_detected", "performance_degraded", "action", "live_model_version",
           "live_roc_auc"}


@pytest.fixture(scope="module")
def loop(training_run, zenml_client, tmp_path_factory):
    """Run ``run.py loop`` in this process; returns (timeline, output).

    The loop promotes retrained versions; the champion is given back afterwards, so the
    other tests find the session's trained model where they expect it.
    """
    import run
    from churnops import registry

    folder = tmp_path_factory.mktemp("timelines")
    mlflow_client = zenml_client.active_stack.model_registry.mlflow_client
    before = registry.champion_version(mlflow_client).version

    def run_loop(scenario: str, days: int) -> tuple[pd.DataFrame, str]:
        csv = folder / f"{scenario}.csv"
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = run.main(["loop", "--days", str(days), "--scenario", scenario, "--seed",
                             "3", "--config", str(TEST_CONFIGS / "continuous.yaml"),
                             "--timeline-out", str(csv)])
        output = printed.getvalue()
        assert code == 0, output
        assert Path(csv.with_suffix(".png")).stat().st_size > 10_000
        timeline = pd.read_csv(csv)
        assert COLUMNS <= set(timeline.columns) and list(timeline["day"]) == list(
            range(1, days + 1))
        return timeline, output

    yield run_loop
    if registry.champion_version(mlflow_client).version != before:
        registry.set_champion(mlflow_client, str(before), "manual_promote",
                              "restored after the closed-loop tests")


def test_no_drift_triggers_nothing(loop) -> None:
    timeline, output = loop("none", 3)
    assert not timeline["drift_detected"].any() and not timeline["performance_degraded"].any()
    assert set(timeline["action"]) == {"none"}
    assert timeline["live_model_version"].nunique() == 1
    assert "Timeline:" in output and "day   3" in output


def test_data_drift_is_flagged_on_its_first_day(loop) -> None:
    timeline, _ = loop("data_drift", 2)
    day1, day2 = timeline.iloc[0], timeline.iloc[1]
    assert not day1["drift_detected"] and day2["drift_detected"]
    assert day2["drift_share"] >= 0.25
    assert day2["action"].startswith("retrained v")  # through the gate, either way


def test_mixed_drift_is_flagged_too(loop) -> None:
    timeline, _ = loop("mixed", 2)
    assert list(timeline["drift_detected"]) == [False, True]


def test_concept_drift_degrades_performance_retrains_and_promotes_a_canary(loop) -> None:
    timeline, output = loop("concept_drift", 6)
    assert not timeline["drift_detected"].any(), output  # the inputs did not move
    degraded = timeline[timeline["performance_degraded"]]
    assert len(degraded) and degraded["day"].min() >= 3, output  # outcomes had to arrive
    assert "retrained v" in degraded.iloc[0]["action"], output
    canaries = timeline[timeline["action"].str.contains("canary at")]
    assert len(canaries), output
    canary_day = canaries.iloc[0]
    after = timeline[timeline["day"] == canary_day["day"] + 1].iloc[0]
    assert "promoted" in after["action"], output
    assert after["live_model_version"] != canary_day["live_model_version"]
