"""The continuous-training controller's rules: when to retrain, and what it remembers.

One run of the continuous-training pipeline is one turn of the production loop (usually a
day). Its memory between runs is a ``LoopState``, stored in the deployment record's
database, so a run in one pod reads what the run before it wrote in another. This module
is pure: the pipeline's steps load and save the state and call ``plan_retraining``.

The rules:

- A live candidate (shadow or canary) is judged on outcomes first. While it waits for
  them, nothing is retrained: a new challenger would replace it before it is judged. A
  candidate undecided after ``max_candidate_runs`` runs is rolled back.
- A performance drop starts a *recovery*. Outcomes from before the change teach the old
  relation, so the retraining waits for ``min_new_outcomes`` outcomes of requests made
  since the change showed (``label_delay_days`` runs before the drop was read), and learns
  from those. Retraining goes on, every cooldown, until the live ROC-AUC is back within
  ``recovery_tolerance`` of its median before the drop, or until a retraining is rejected
  by the gate while a version retrained since the drop is live: the outcomes since the
  change have taught what they can (a change in who churns can lower what any model
  reaches), and the readings from then on set the new level.
- Otherwise a ``retrain`` decision retrains, at most once per ``cooldown_days`` runs, counted
  from the last retraining or promotion.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from churnops.monitoring import MonitoringDecision
from churnops.promotion import GateResult
from churnops.settings import LoopSettings

KEPT_WINDOWS = 60
"""Window starts the state keeps: enough to look back over any label delay."""


PRODUCTION_CONTROLLER = "production"
"""The controller of the scheduled production loop (a simulation uses its own)."""


class LoopState(BaseModel):
    """What the controller remembers between runs."""

    controller: str = Field(PRODUCTION_CONTROLLER, description="Whose memory: production, or a "
                            "simulation's own, so that a simulation starts afresh.")
    runs: int = Field(0, description="Runs recorded so far; this run's number is runs + 1.")
    window_starts: list[datetime] = Field(
        default_factory=list, description="Start of each recent run's traffic window.")
    healthy_roc_aucs: list[float] = Field(
        default_factory=list, description="Live ROC-AUC readings before a drop.")
    recovery_since: datetime | None = Field(
        None, description="During a recovery: learn from requests made since then.")
    recovery_retrained: bool = False
    recovery_promoted: bool = Field(
        False, description="During a recovery: a version retrained since the drop is live.")
    last_retrain_run: int | None = None
    last_promotion_run: int | None = None
    last_approved: bool = False
    candidate_since_run: int | None = Field(
        None, description="The run that deployed the live candidate, while it is judged.")

    @property
    def recovering(self) -> bool:
        return self.recovery_since is not None

    @property
    def level(self) -> float:
        """The live ROC-AUC to recover to: the median reading before the drop."""
        return statistics.median(self.healthy_roc_aucs) if self.healthy_roc_aucs else 0.0

    def started(self, window_start: datetime) -> LoopState:
        """The state as this run sees it: one more run, its window start remembered."""
        return self.model_copy(update={
            "runs": self.runs + 1,
            "window_starts": [*self.window_starts, window_start][-KEPT_WINDOWS:]})


CandidateActionKind = Literal["promoted", "rolled_back", "waiting", "none"]


class CandidateAction(BaseModel):
    """What the run did with the live candidate after its verdict."""

    action: CandidateActionKind
    candidate: str | None = None
    reason: str

    def line(self) -> str | None:
        if self.action == "none":
            return None
        return f"candidate v{self.candidate} {self.action.replace('_', ' ')}: {self.reason}"


class RetrainingOrder(BaseModel):
    """Whether this run retrains, on which requests' outcomes, and why."""

    retrain: bool
    reason: str
    since: datetime | None = Field(None, description="Learn only from requests made since.")
    until: datetime
    state: LoopState = Field(description="The controller's state after this run's plan.")
    held_back: bool = Field(False, description="Retraining was called for and held back "
                            "(recovering, cooling down): worth a line in the timeline.")


class RetrainingResult(BaseModel):
    """What the run's retraining did: nothing (the order says why), or a version and its
    gate result."""

    gate: GateResult | None = Field(None, description="None when nothing was retrained.")

    @property
    def approved_version(self) -> str | None:
        return self.gate.model_version if self.gate and self.gate.approved else None

    def line(self) -> str | None:
        if self.gate is None:
            return None
        verdict = "approved" if self.gate.approved else "rejected by the gate"
        return f"retrained v{self.gate.model_version}: {verdict}"


def plan_retraining(state: LoopState, decision: MonitoringDecision, action: CandidateAction,
                    window_end: datetime, settings: LoopSettings,
                    outcomes_since: Callable[[datetime], int]) -> RetrainingOrder:
    """This run's retraining order. ``state`` is this run's (``LoopState.started``);
    ``outcomes_since(t)`` counts the outcomes received for requests made since ``t``."""
    run = state.runs
    state = _after_candidate(state, action)
    state = _track_recovery(state, decision, settings)

    def order(retrain: bool, reason: str, held_back: bool = False) -> RetrainingOrder:
        since = state.recovery_since if retrain else None
        planned = state.model_copy(update={"last_retrain_run": run}) if retrain else state
        return RetrainingOrder(retrain=retrain, reason=reason, since=since, until=window_end,
                               state=planned, held_back=held_back)

    if action.action == "waiting":
        return order(False, f"candidate v{action.candidate} is still being judged")
    if not (decision.recommended_action == "retrain" or state.recovering):
        return order(False, "no retraining needed")
    if state.recovering:
        new = outcomes_since(state.recovery_since)
        if new < settings.min_new_outcomes:
            return order(False, f"recovering: {new}/{settings.min_new_outcomes} outcomes "
                                "since the change", held_back=True)
    # A rejected challenger during a recovery is tried again the next run, with one more
    # run of outcomes from after the change; otherwise wait for the cooldown.
    wait = settings.cooldown_days if state.last_approved or not state.recovering else 0
    if action.action == "promoted":
        return order(False, "a candidate was just promoted", held_back=True)
    # The cooldown runs from the last retraining or promotion, whichever came later: the
    # live model's own outcomes must arrive before it is judged again.
    changed = max((r for r in (state.last_retrain_run, state.last_promotion_run)
                   if r is not None), default=None)
    if changed is not None and run - changed <= wait:
        return order(False, "retraining due, cooling down", held_back=True)
    return order(True, "; ".join(decision.grounds) if not state.recovering
                 else f"recovering from a drop (level {state.level:.3f})")


def after_retraining(state: LoopState, approved: bool, deployed: bool) -> LoopState:
    """The state to save once the run's retraining (if any) and deployment are done."""
    run = state.runs
    if state.last_retrain_run != run:
        return state
    if state.recovering and state.recovery_promoted and not approved:
        # Retraining no longer beats the version retrained since the drop: stop, and learn
        # the new level from the readings to come.
        return state.model_copy(update={
            "last_approved": False, "recovery_since": None, "recovery_promoted": False,
            "healthy_roc_aucs": []})
    return state.model_copy(update={
        "last_approved": approved,
        "recovery_retrained": state.recovery_retrained or (approved and state.recovering),
        "candidate_since_run": run if deployed else state.candidate_since_run})


def candidate_overdue(state: LoopState, settings: LoopSettings) -> bool:
    """The live candidate has waited more than ``max_candidate_runs`` runs for a verdict."""
    since = state.candidate_since_run
    return since is not None and state.runs - since > settings.max_candidate_runs


def _after_candidate(state: LoopState, action: CandidateAction) -> LoopState:
    if action.action == "promoted":
        return state.model_copy(update={"candidate_since_run": None,
                                        "last_promotion_run": state.runs,
                                        "recovery_promoted": state.recovering})
    if action.action == "rolled_back":
        # A rolled-back candidate leaves no model of its own to wait for.
        return state.model_copy(update={"candidate_since_run": None, "last_approved": False})
    if action.action == "none":
        return state.model_copy(update={"candidate_since_run": None})
    return state


def _track_recovery(state: LoopState, decision: MonitoringDecision,
                    settings: LoopSettings) -> LoopState:
    """Start a recovery on a drop, collect healthy readings, end it once back at level."""
    performance = decision.performance
    auc = performance.roc_auc if performance else None
    measured = auc is not None and performance.labelled_rows >= settings.min_labels
    if decision.performance_degraded and not state.recovering:
        back = max(0, len(state.window_starts) - 1 - settings.label_delay_days)
        return state.model_copy(update={"recovery_since": state.window_starts[back],
                                        "recovery_retrained": False,
                                        "recovery_promoted": False})
    if measured and not state.recovering:
        return state.model_copy(update={"healthy_roc_aucs": [*state.healthy_roc_aucs, auc]})
    if measured and state.recovery_retrained \
            and auc >= state.level - settings.recovery_tolerance:
        return state.model_copy(update={"recovery_since": None})
    return state
