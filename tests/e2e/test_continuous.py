"""The closed loop end to end on the real local stack: each scenario, in short runs.

Every day is real: the simulator drives the prediction service over HTTP, and one run of the
continuous-training pipeline monitors, judges the live candidate on its outcomes, retrains
through the gate and deploys an approved challenger as a shadow.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest

from churnops import paths
from tests.browser import BROWSER_ARGS, api_session, chromium
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

    def run_loop(scenario: str, days: int, strength: float, from_champion: bool = False
                 ) -> tuple[pd.DataFrame, str]:
        """``from_champion``: first put the session's champion back, live on its own (the
        earlier loops may have promoted versions trained on another world)."""
        csv = folder / f"{scenario}.csv"
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            if from_champion:
                registry.set_champion(mlflow_client, str(before), "manual_promote",
                                      "the closed-loop test starts from the session's model")
                assert run.main(["pipeline", "deployment", "--model-version", str(before)]
                                ) == 0, printed.getvalue()
            code = run.main(["loop", "--days", str(days), "--scenario", scenario,
                             "--strength", str(strength), "--seed", "3",
                             "--config", str(TEST_CONFIGS / "continuous.yaml"),
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
    timeline, output = loop("none", 3, 0.0)
    assert not timeline["drift_detected"].any() and not timeline["performance_degraded"].any()
    assert set(timeline["action"]) == {"none"}
    assert timeline["live_model_version"].nunique() == 1
    assert "Timeline:" in output and "day   3" in output


def test_data_drift_is_flagged_on_its_first_day(loop) -> None:
    timeline, _ = loop("data_drift", 2, 1.0)
    day1, day2 = timeline.iloc[0], timeline.iloc[1]
    assert not day1["drift_detected"] and day2["drift_detected"]
    assert day2["features_moved"] >= 3 and day2["severity"] == "act"
    assert day2["action"].startswith("retrained v")  # through the gate, either way


def test_mixed_drift_is_flagged_too(loop) -> None:
    timeline, _ = loop("mixed", 2, 1.0)
    assert list(timeline["drift_detected"]) == [False, True]


def test_concept_drift_retrains_and_promotes_the_shadow_on_its_outcomes(loop) -> None:
    timeline, output = loop("concept_drift", 8, 0.8)
    assert not timeline["drift_detected"].any(), output  # the inputs did not move
    degraded = timeline[timeline["performance_degraded"]]
    assert len(degraded) and degraded["day"].min() >= 3, output  # outcomes had to arrive
    assert "retrained v" in degraded.iloc[0]["action"], output
    shadows = timeline[timeline["action"].str.contains("live as shadow")]
    assert len(shadows), output
    shadow_day = shadows.iloc[0]
    # Outcomes arrive a day late (tests/configs/continuous.yaml); the shadow answered 300
    # requests the day after it went live, more than the 200 outcomes a verdict needs. Eight
    # days leave room for a first challenger, trained on 300 outcomes, that the gate rejects.
    verdicts = timeline[timeline["day"] == shadow_day["day"] + 2]
    assert len(verdicts), output
    verdict_day = verdicts.iloc[0]
    assert "promoted" in verdict_day["action"], output
    assert "ROC-AUC +" in verdict_day["action"], output  # the evidence is in the timeline
    assert verdict_day["live_model_version"] != shadow_day["live_model_version"]
    waiting = timeline[timeline["day"] == shadow_day["day"] + 1].iloc[0]
    assert "waiting" in waiting["action"] and "retrained" not in waiting["action"], output


def test_the_dashboard_shows_the_monitoring_trend_up_to_the_latest_run(
        loop, dashboard, zenml_client) -> None:
    """Opened as a person would: the run's page, the `monitoring_trend` artifact, its
    visualization. The page names the latest run and the feature the price change moved."""
    browser_path = chromium()
    timeline, output = loop("price_change", 2, 0.1, from_champion=True)
    severity = timeline.iloc[1]["severity"]
    assert severity in ("warn", "act"), output
    run = zenml_client.get_pipeline("churn_continuous_training").last_run
    api_session(dashboard)  # the first-visit survey, answered
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{dashboard}/projects/default/runs/{run.id}")
        page.get_by_text("monitoring_trend").first.click(timeout=60_000)
        page.get_by_role("tab", name="Visualization").click(timeout=30_000)
        page.get_by_role("button", name="Load Preview").click(timeout=30_000)
        view = page.frame_locator("iframe").first
        latest = view.locator("#latest")
        latest.wait_for(timeout=60_000)
        text = latest.inner_text()
        rows = view.locator("tr.run")
        assert rows.count() == 2
        moved = rows.first.inner_text()
        page.screenshot(path=str(paths.reports_dir() / "monitoring-trend.png"), timeout=120_000)
        browser.close()
    assert text.startswith("Latest run: 2 at ") and f"severity {severity}" in text, text
    assert "MonthlyCharges +" in moved, moved
