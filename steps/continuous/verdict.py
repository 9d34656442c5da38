"""Act on the live candidate's verdict: promote it, roll it back, or let it wait."""

from __future__ import annotations

import logging
from typing import Annotated

from zenml import step

from churnops.challenger import ChallengerVerdict
from churnops.continuous import CandidateAction, LoopState, candidate_overdue
from churnops.deployment_record import read_live
from churnops.settings import LoopSettings
from steps.deployment.candidate import promote_candidate, rollback_candidate

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def act_on_verdict(verdict: ChallengerVerdict, state: LoopState, settings: LoopSettings
                   ) -> Annotated[CandidateAction, "candidate_action"]:
    """Promote a candidate shown non-inferior, roll back one shown worse (or undecided for
    too long), and report a candidate the service rolled back by itself."""
    evidence = _evidence(verdict)
    if verdict.decision == "none":
        return _gone(state)
    live = read_live()
    if live is None or live.candidate is None or live.candidate.version != verdict.candidate:
        return CandidateAction(action="none", candidate=verdict.candidate,
                               reason="the live deployment changed while it was judged")
    if verdict.decision == "promote":
        promote_candidate(f"non-inferior on {evidence}")
        return CandidateAction(action="promoted", candidate=verdict.candidate, reason=evidence)
    if verdict.decision == "roll_back":
        rollback_candidate(f"worse on {evidence}")
        return CandidateAction(action="rolled_back", candidate=verdict.candidate,
                               reason=evidence)
    if candidate_overdue(state, settings):
        reason = f"undecided after {settings.max_candidate_runs} runs ({evidence})"
        rollback_candidate(reason)
        return CandidateAction(action="rolled_back", candidate=verdict.candidate,
                               reason=reason)
    return CandidateAction(action="waiting", candidate=verdict.candidate,
                           reason="; ".join(verdict.reasons))


def _gone(state: LoopState) -> CandidateAction:
    """No candidate is live: if this loop deployed one, the service rolled it back."""
    if state.candidate_since_run is None:
        return CandidateAction(action="none", reason="no candidate is live")
    from stacks.access import reconcile_served

    live = read_live()
    if live is not None:
        reconcile_served(live)  # the service changes the record only
    rollback = live.rollback if live else None
    return CandidateAction(
        action="rolled_back", candidate=rollback.version if rollback else None,
        reason=rollback.reason if rollback else "replaced by another deployment")


def _evidence(verdict: ChallengerVerdict) -> str:
    """The differences and their bounds, in one line: what the decision rests on."""
    auc, value = verdict.roc_auc_difference, verdict.value_per_customer_difference
    if auc is None or value is None:
        return f"{verdict.outcomes} outcomes; " + "; ".join(verdict.reasons)
    return (f"{verdict.outcomes} outcomes ({verdict.mode}), ROC-AUC {auc.estimate:+.3f} "
            f"[{auc.low:+.3f}, {auc.high:+.3f}], value per customer {value.estimate:+.2f} "
            f"[{value.low:+.2f}, {value.high:+.2f}] USD")
