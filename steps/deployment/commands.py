"""Operations on the live deployment between pipeline runs, for ``run.py``.

They are plain functions, not pipelines: each one moves an alias, rewrites ``live.json``
and stops a server, which takes a second and produces no artifact worth tracking. They are
recorded where it matters: the registry's promotion history and ``history.jsonl``.
"""

from __future__ import annotations

import logging

from churnops import registry
from churnops.deployment import (
    DeploymentEvent,
    DeploymentHistory,
    LiveDeployment,
    format_status,
    read_live,
    write_live,
)
from steps.deployment.model_deployer import server_state, stop_server
from steps.registry.model_registry import active_model_registry

logger = logging.getLogger(__name__)


def status() -> str:
    """What is live: versions, strategy, traffic shares, endpoints, server states, rollback."""
    live = read_live()
    health = {e.version: server_state(e.service_id) for e in live.endpoints()} if live else {}
    return format_status(live, health)


def _live_with_candidate(action: str) -> LiveDeployment:
    live = read_live()
    if live is None or live.candidate is None:
        raise RuntimeError(f"Nothing to {action}: no shadow or canary deployment is live "
                           "(see --status).")
    return live


def promote_canary(reason: str = "candidate promoted after its canary") -> LiveDeployment:
    """Make the live candidate the champion, everywhere.

    Moves the registry's ``champion`` alias (recorded in the promotion history), sends all
    traffic to the candidate's server, and deletes the old champion's server.
    """
    live = _live_with_candidate("promote")
    candidate, old = live.candidate, live.champion
    registry.promote(active_model_registry().mlflow_client, candidate.version, reason)
    promoted = LiveDeployment(strategy="basic", champion=candidate, rollback=live.rollback)
    write_live(promoted)
    DeploymentHistory().append(DeploymentEvent(
        event="promoted", strategy="basic", champion=candidate.version, candidate=None,
        reason=f"{reason} (was v{old.version}, {live.strategy})"))
    if old.service_id and old.service_id != candidate.service_id:
        stop_server(old.service_id)
    logger.info("churn-model v%s is the champion and takes all traffic.", candidate.version)
    return promoted


def rollback_canary(reason: str = "rolled back by hand") -> LiveDeployment:
    """Send all traffic back to the champion and delete the candidate's server."""
    live = _live_with_candidate("roll back")
    candidate = live.candidate
    restored = live.rolled_back(reason)
    write_live(restored)
    DeploymentHistory().append(DeploymentEvent(
        event="rolled_back", strategy="basic", champion=live.champion.version,
        candidate=candidate.version, reason=f"{reason} ({live.strategy})"))
    if candidate.service_id and candidate.service_id != live.champion.service_id:
        stop_server(candidate.service_id)
    logger.info("Rolled back: churn-model v%s takes all traffic again.", live.champion.version)
    return restored
