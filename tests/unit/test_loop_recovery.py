"""The closed loop's recovery bookkeeping after a performance drop."""

from __future__ import annotations

from churnops.monitoring import DriftFigures, MonitoringDecision, PerformanceFigures
from churnops.settings import LoopSettings
from ops.loop import Recovery

QUIET = DriftFigures(rows=300, drift_share=0.0, drifted_features=[], dataset_drift=False,
                     prediction_drift_score=0.5, prediction_drift=False)


def decision(auc: float | None, rows: int = 900, degraded: bool = False) -> MonitoringDecision:
    performance = PerformanceFigures(labelled_rows=rows, roc_auc=auc, recall=None,
                                     value_per_customer=None, baseline_roc_auc=0.84)
    return MonitoringDecision(drift_detected=False, performance_degraded=degraded, reasons=[],
                              recommended_action="retrain" if degraded else "none",
                              drift=QUIET, performance=performance)


def test_recovery_starts_at_a_drop_and_ends_when_a_retrained_model_is_back() -> None:
    recovery = Recovery(LoopSettings(recovery_tolerance=0.02, min_labels=300))
    for day, auc in enumerate((0.87, 0.85, 0.84, 0.80), start=1):
        recovery.update(day, decision(auc), label_delay_days=2)
    assert not recovery.active and recovery.level == 0.845  # the median before the drop

    recovery.update(5, decision(0.74, degraded=True), label_delay_days=2)
    assert recovery.active and recovery.since_day == 3  # the newest day of that reading

    recovery.update(6, decision(0.86), label_delay_days=2)
    assert recovery.active  # no model retrained since the drop yet: noise cannot end it
    recovery.retrained = True
    recovery.update(7, decision(0.82), label_delay_days=2)
    assert recovery.active  # 0.82 < 0.845 - 0.02
    recovery.update(8, decision(0.83, rows=100), label_delay_days=2)
    assert recovery.active  # too few outcomes to count
    recovery.update(9, decision(0.83), label_delay_days=2)
    assert not recovery.active


def test_readings_without_enough_outcomes_do_not_set_the_level() -> None:
    recovery = Recovery(LoopSettings(min_labels=300))
    recovery.update(1, decision(0.99, rows=50), label_delay_days=2)
    recovery.update(2, decision(None, rows=0), label_delay_days=2)
    assert recovery.healthy == []
