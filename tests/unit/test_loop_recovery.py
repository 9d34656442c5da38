"""The continuous-training controller's rules (``churnops.continuous``), run by run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from churnops.continuous import (
    CandidateAction,
    LoopState,
    after_retraining,
    candidate_overdue,
    plan_retraining,
)
from churnops.drift import DriftFigures
from churnops.monitoring import Finding, MonitoringDecision, PerformanceFigures
from churnops.settings import LoopSettings

QUIET = DriftFigures(rows=300)
DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
NONE = CandidateAction(action="none", reason="no candidate is live")
SETTINGS = LoopSettings(recovery_tolerance=0.02, min_labels=300, min_new_outcomes=900,
                        cooldown_days=4, label_delay_days=2)


def decision(auc: float | None = 0.85, rows: int = 900, degraded: bool = False,
             drift: bool = False) -> MonitoringDecision:
    performance = PerformanceFigures(labelled_rows=rows, roc_auc=auc, recall=None,
                                     value_per_customer=None, baseline_roc_auc=0.84)
    return MonitoringDecision(
        drift_detected=drift, performance_degraded=degraded,
        findings=[Finding(severity="act" if degraded or drift else "info", kind="performance",
                          message="why")],
        recommended_action="retrain" if degraded or drift else "none", drift=QUIET,
        performance=performance)


class Controller:
    """Runs the rules day after day, as the pipeline does, saving the state between runs."""

    def __init__(self, settings: LoopSettings = SETTINGS, outcomes: int = 10_000) -> None:
        self.settings, self.state, self.outcomes = settings, LoopState(), outcomes
        self.asked_since: list[datetime] = []

    def run(self, day_decision: MonitoringDecision, action: CandidateAction = NONE,
            approved: bool = True, deployed: bool = True):
        start = DAY0 + timedelta(days=self.state.runs)
        state = self.state.started(start)

        def outcomes_since(since: datetime) -> int:
            self.asked_since.append(since)
            return self.outcomes

        order = plan_retraining(state, day_decision, action, start + timedelta(hours=23),
                                self.settings, outcomes_since)
        self.state = after_retraining(order.state, approved and order.retrain,
                                      deployed and approved and order.retrain)
        return order


def test_nothing_is_retrained_on_quiet_days() -> None:
    controller = Controller()
    for _ in range(3):
        order = controller.run(decision())
        assert not order.retrain and not order.held_back
    assert controller.state.runs == 3 and controller.state.healthy_roc_aucs == [0.85] * 3


def test_drift_retrains_then_cools_down() -> None:
    controller = Controller()
    first = controller.run(decision(drift=True))
    assert first.retrain and first.since is None and first.reason == "why"
    assert controller.state.candidate_since_run == 1
    for day in range(2, 6):  # cooldown_days = 4: days 2 to 5 wait
        order = controller.run(decision(drift=True))
        assert not order.retrain and "cooling down" in order.reason, day
        assert order.held_back  # a line in the timeline
    assert controller.run(decision(drift=True)).retrain  # day 6


def test_nothing_is_retrained_while_a_candidate_is_judged() -> None:
    controller = Controller()
    waiting = CandidateAction(action="waiting", candidate="2", reason="120 outcomes")
    order = controller.run(decision(drift=True), waiting)
    assert not order.retrain and order.reason == "candidate v2 is still being judged"


def test_the_cooldown_counts_from_the_promotion() -> None:
    """The promoted model's own outcomes must arrive before it is judged again."""
    controller = Controller()
    assert controller.run(decision(drift=True)).retrain  # run 1: a shadow goes live
    waiting = CandidateAction(action="waiting", candidate="2", reason="0 outcomes")
    for _ in range(2):
        controller.run(decision(drift=True), waiting)  # runs 2-3
    promoted = CandidateAction(action="promoted", candidate="2", reason="non-inferior")
    controller.run(decision(drift=True), promoted)  # run 4
    for run in (5, 6, 7, 8):  # 4 runs after the promotion, not after the retraining
        order = controller.run(decision(drift=True))
        assert not order.retrain and "cooling down" in order.reason, run
    assert controller.run(decision(drift=True)).retrain  # run 9


def test_a_promotion_day_does_not_retrain() -> None:
    controller = Controller(LoopSettings(cooldown_days=0))
    promoted = CandidateAction(action="promoted", candidate="2", reason="non-inferior")
    order = controller.run(decision(drift=True), promoted)
    assert not order.retrain and order.reason == "a candidate was just promoted"
    assert controller.state.candidate_since_run is None


def test_recovery_starts_at_a_drop_and_ends_when_a_retrained_model_is_back() -> None:
    controller = Controller(outcomes=0)
    for auc in (0.87, 0.85, 0.84, 0.80):
        controller.run(decision(auc))
    assert not controller.state.recovering and controller.state.level == 0.845

    order = controller.run(decision(0.74, degraded=True))  # run 5
    # Outcomes arrive two runs late: the change showed in the requests of run 3.
    assert controller.state.recovery_since == DAY0 + timedelta(days=2)
    assert not order.retrain and order.reason == "recovering: 0/900 outcomes since the change"
    assert controller.asked_since == [DAY0 + timedelta(days=2)]

    controller.outcomes = 900
    order = controller.run(decision(0.86))  # noise cannot end it: nothing retrained yet
    assert order.retrain and order.since == DAY0 + timedelta(days=2)
    assert controller.state.recovering and controller.state.recovery_retrained
    assert not controller.run(decision(0.82)).retrain  # 0.82 < 0.845 - 0.02; cooling down
    controller.run(decision(0.83, rows=100))  # too few outcomes to count
    assert controller.state.recovering
    controller.run(decision(0.83))
    assert not controller.state.recovering


def test_a_rejected_challenger_in_a_recovery_is_tried_again_the_next_run() -> None:
    controller = Controller()
    controller.run(decision(0.85))
    controller.run(decision(0.70, degraded=True), approved=False)
    assert controller.state.last_retrain_run == 2 and not controller.state.last_approved
    assert controller.run(decision(0.70)).retrain


def test_a_recovery_ends_once_retraining_no_longer_beats_a_version_retrained_since() -> None:
    # A change in who churns can lower what any model reaches: once a version retrained
    # since the drop is live and the next retraining cannot beat it, the recovery ends.
    controller = Controller()
    controller.run(decision(0.85))
    assert controller.run(decision(0.70, degraded=True)).retrain  # run 2, approved
    promoted = CandidateAction(action="promoted", candidate="2", reason="better")
    controller.run(decision(0.78), promoted)  # run 3: live, below the level
    assert controller.state.recovering and controller.state.recovery_promoted
    for _ in range(4):  # runs 4-7: cooling down
        assert not controller.run(decision(0.78)).retrain
    assert controller.run(decision(0.78), approved=False).retrain  # run 8: rejected
    assert not controller.state.recovering and controller.state.healthy_roc_aucs == []
    assert not controller.run(decision(0.78)).retrain
    assert controller.state.level == 0.78  # the new level


def test_a_rejection_before_any_promotion_keeps_the_recovery_going() -> None:
    controller = Controller()
    controller.run(decision(0.85))
    controller.run(decision(0.70, degraded=True), approved=False)
    assert controller.state.recovering
    assert controller.run(decision(0.70), approved=False).retrain
    assert controller.state.recovering


def test_readings_without_enough_outcomes_do_not_set_the_level() -> None:
    controller = Controller()
    controller.run(decision(0.99, rows=50))
    controller.run(decision(None, rows=0))
    assert controller.state.healthy_roc_aucs == []


@pytest.mark.parametrize(("runs", "overdue"), [(11, False), (12, True)])
def test_a_candidate_undecided_for_too_long_is_overdue(runs: int, overdue: bool) -> None:
    state = LoopState(runs=runs, candidate_since_run=1)
    assert candidate_overdue(state, LoopSettings(max_candidate_runs=10)) is overdue


def test_the_state_remembers_a_bounded_number_of_windows() -> None:
    state = LoopState()
    for day in range(100):
        state = state.started(DAY0 + timedelta(days=day))
    assert state.runs == 100 and len(state.window_starts) == 60
    assert state.window_starts[-1] == DAY0 + timedelta(days=99)
