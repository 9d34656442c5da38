"""The live candidate's fate: promoted to champion, or rolled back.

Plain functions, used by the CLI (``run.py deploy promote|rollback``) and by the
continuous-training pipeline's verdict step. Each one publishes a new generation of the
deployment record, moves the registry alias when it promotes, and retires a server; they are
recorded in the registry's promotion history and the deployment history.
"""

from __future__ import annotations

import logging

from churnops.deployment import DeploymentEvent, LiveDeployment
from churnops.deployment_record import DeploymentRecord, Published

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
    and deletes the old primary's server.
    """
    from churnops import registry
    from stacks.access import mirror_champion, mlflow_client, stop_server

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
    if old.service_id and old.service_id != candidate.service_id:
        stop_server(old.service_id)
    logger.info("churn-model v%s is the champion and takes all traffic.", candidate.version)
    return promoted


def rollback_candidate(reason: str = "rolled back by hand") -> LiveDeployment:
    """Send all traffic back to the primary and delete the candidate's server."""
    from stacks.access import stop_server

    with DeploymentRecord() as record:
        published = _live_with_candidate(record, "roll back")
        live = published.deployment
        candidate = live.model(live.candidate_slot)
        restored = live.rolled_back(reason)
        record.publish(restored, DeploymentEvent(
            event="rolled_back", strategy="basic", primary=live.primary.version,
            candidate=candidate.version, reason=f"{reason} ({live.strategy})"),
            read=published.generation)
    if candidate.service_id and candidate.service_id != live.primary.service_id:
        stop_server(candidate.service_id)
    logger.info("Rolled back: churn-model v%s takes all traffic again.", live.primary.version)
    return restored
