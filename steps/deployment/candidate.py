"""The live candidate's fate: promoted to champion, or rolled back; and a canary's share.

Plain functions, used by the CLI (``run.py deploy promote|rollback``) and by the
continuous-training pipeline's verdict step. Each one publishes a new generation of the
deployment record (the prediction service routes by it), moves the registry alias when it
promotes, and then has the model deployer follow the record (``stacks.access``:
``served_promotion``, ``served_rollback``, ``served_canary_share``): on the local stack a
server is retired, on ``seldon_progressive`` the SeldonDeployment is promoted, rolled back or
re-weighted. They are recorded in the registry's promotion history and the deployment
history.
"""

from __future__ import annotations

import logging

from churnops.deployment import DeploymentEvent, LiveDeployment
from churnops.deployment_record import DeploymentRecord, Published

MIN_CANARY_SHARE, MAX_CANARY_SHARE = 0.01, 0.99
"""A canary's share must leave both versions some traffic, in whole percents for Seldon."""

logger = logging.getLogger(__name__)


class NoCandidateError(RuntimeError):
    """There is no live shadow or canary to act on."""


def _live_with_candidate(record: DeploymentRecord, action: str) -> Published:
    published = record.current()
    if published is None or published.deployment.candidate is None:
        raise NoCandidateError(f"Nothing to {action}: no shadow or canary is live.")
    return published


def promote_candidate(reason: str = "candidate promoted after its canary") -> LiveDeployment:
    """Make the live candidate the champion, everywhere.

    Sends all traffic to the candidate's server (a new generation of the deployment record:
    if another writer changed it meanwhile, nothing happens and ``StaleDeploymentError``
    says so), moves the registry's ``champion`` alias (recorded in the promotion history),
    and retires the old primary: its own server, or its predictor of the SeldonDeployment.
    """
    from churnops import registry
    from stacks.access import mirror_champion, mlflow_client, served_promotion

    with DeploymentRecord() as record:
        published = _live_with_candidate(record, "promote")
        live = published.deployment
        candidate, old = live.model(live.candidate_slot), live.primary
        promoted = live.promoted()
        record.publish(promoted, DeploymentEvent(
            event="promoted", strategy="basic", primary=candidate.version, candidate=None,
            reason=f"{reason} (was v{old.version}, {live.strategy})"),
            read=published.generation)
    registry.promote(mlflow_client(), candidate.version, reason)
    mirror_champion(candidate.version)
    served_promotion(live)
    logger.info("churn-model v%s is the champion and takes all traffic.", candidate.version)
    return promoted


def rollback_candidate(reason: str = "rolled back by hand") -> LiveDeployment:
    """Send all traffic back to the primary and retire the candidate: its own server, or its
    predictor of the SeldonDeployment."""
    from stacks.access import served_rollback

    with DeploymentRecord() as record:
        published = _live_with_candidate(record, "roll back")
        live = published.deployment
        candidate = live.model(live.candidate_slot)
        restored = live.rolled_back(reason)
        record.publish(restored, DeploymentEvent(
            event="rolled_back", strategy="basic", primary=live.primary.version,
            candidate=candidate.version, reason=f"{reason} ({live.strategy})"),
            read=published.generation)
    served_rollback(live)
    logger.info("Rolled back: churn-model v%s takes all traffic again.", live.primary.version)
    return restored


def set_canary_share(share: float, reason: str = "canary share changed by hand"
                     ) -> LiveDeployment:
    """Give the live canary ``share`` of the requests (to ramp it up or down).

    Publishes a new generation of the deployment record with the new share (if another
    writer changed it meanwhile, nothing happens and ``StaleDeploymentError`` says so); the
    prediction service splits by it. Then the model deployer follows: nothing to do on the
    local stack, new predictor weights on ``seldon_progressive``.
    """
    from stacks.access import served_canary_share

    if not MIN_CANARY_SHARE <= share <= MAX_CANARY_SHARE:
        raise ValueError(f"A canary share must be between {MIN_CANARY_SHARE} and "
                         f"{MAX_CANARY_SHARE}, not {share}.")
    with DeploymentRecord() as record:
        published = record.current()
        if published is None or published.deployment.strategy != "canary":
            raise NoCandidateError("Nothing to change: no canary is live.")
        live = published.deployment
        changed = LiveDeployment.model_validate(
            {**live.model_dump(exclude={"updated_at"}), "canary_share": share})
        candidate = live.model("canary")
        record.publish(changed, DeploymentEvent(
            event="canary_share", strategy="canary", primary=live.primary.version,
            candidate=candidate.version,
            reason=f"{reason} ({live.canary_share:g} -> {share:g})"),
            read=published.generation)
    served_canary_share(live, share)
    logger.info("Canary v%s answers %g %% of the requests.", candidate.version, share * 100)
    return changed
