"""The monitoring trend page, from the runs the deployment record keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from churnops.drift import DriftFigures
from churnops.estimation import EstimatedPerformance
from churnops.monitoring import Finding, MonitoringDecision, PerformanceFigures
from churnops.trend import render, run_summary, trend_rows

START = datetime(2026, 1, 1, 6, tzinfo=UTC)


def _decision(day: int) -> MonitoringDecision:
    act = day == 3
    return MonitoringDecision(
        drift_detected=False, performance_degraded=act, recommended_action="retrain" if act
        else "none",
        findings=[Finding(severity="act" if act else "info", kind="performance",
                          message=f"live ROC-AUC on day {day}")],
        drift=DriftFigures(rows=300),
        performance=PerformanceFigures(labelled_rows=900, positives=240, roc_auc=0.86 - day / 50,
                                       recall=None, value_per_customer=None,
                                       baseline_roc_auc=0.86),
        estimated=EstimatedPerformance(rows=300, roc_auc=0.85, roc_auc_low=0.82,
                                       roc_auc_high=0.88))


def _runs() -> list[dict]:
    return [{"run": day, "ts": START + timedelta(days=day),
             **run_summary(_decision(day), ["retrained v2: approved"] if day == 3 else [],
                           "1", "2" if day == 3 else None)}
            for day in (1, 2, 3)]


def test_each_run_becomes_a_row_with_its_figures() -> None:
    rows = trend_rows([{"run": 0, "ts": START, "actions": []}, *_runs()])  # an older summary
    assert [r.run for r in rows] == [1, 2, 3]
    assert rows[2].severity == "act" and rows[2].candidate == "2"
    assert rows[2].live_roc_auc == 0.8 and rows[2].estimated_roc_auc == 0.85


def test_the_page_leads_with_the_latest_run() -> None:
    page = render(trend_rows(_runs()), "production")
    assert "Latest run: 3 at 2026-01-04 06:00 UTC, severity <b>act</b>, live v1, " \
           "candidate v2" in page
    assert page.index("data-run='3'") < page.index("data-run='1'")
    assert "act: live ROC-AUC on day 3" in page and "info: live ROC-AUC" not in page
    assert "<svg" in page and "retrained v2: approved" in page
    assert "No continuous-training runs" in render([], "production")
