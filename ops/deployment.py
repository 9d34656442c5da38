"""The live deployment between pipeline runs: its status, and its candidate's fate.

Promotion and rollback live in ``steps.deployment.candidate``, where the continuous-training
pipeline uses them too; they are re-exported here for the CLI.
"""

from __future__ import annotations

import logging

import httpx

from churnops.continuous import PRODUCTION_CONTROLLER
from churnops.deployment import format_status
from churnops.deployment_record import DeploymentRecord
from churnops.protocols import ProtocolError, protocol_for_endpoint
from steps.deployment.candidate import (
    NoCandidateError,
    promote_candidate,
    rollback_candidate,
    set_canary_share,
)

__all__ = ["NoCandidateError", "promote_candidate", "rollback_candidate", "server_health",
           "set_canary_share", "status"]

RECENT_RUNS = 5
"""Continuous-training runs ``status`` lists."""

logger = logging.getLogger(__name__)


def status() -> str:
    """What is live: versions, strategy, traffic shares, endpoints, server health, rollback.

    A server is ``running`` when its health check answers; only the deployment record and
    HTTP are read, so this needs no pipeline or stack code.
    """
    from sqlalchemy.engine import make_url

    with DeploymentRecord() as record:
        published = record.current()
        where = make_url(record.url).render_as_string(hide_password=True)
        runs = record.loop_runs(PRODUCTION_CONTROLLER)[-RECENT_RUNS:]
    live = published.deployment if published else None
    health = {m.version: server_health(m.endpoint) for m in live.models()} if live else {}
    generation = f", generation {published.generation}" if published else ""
    lines = [f"Deployment record: {where}{generation}", format_status(live, health)]
    if runs:
        lines.append("Continuous training, latest runs:")
        lines += [f"  run {run['run']:>4}  {run['ts']:%Y-%m-%d %H:%M} UTC  "
                  + ("; ".join(run["actions"]) or "nothing to do") for run in runs]
    return "\n".join(lines)


def server_health(endpoint: str | None, timeout: float = 2.0) -> str:
    """``running`` if the model server's health check answers 200, else why not."""
    if endpoint is None:
        return "not served"
    try:
        protocol, base = protocol_for_endpoint(endpoint)
        response = httpx.get(base + protocol.health_path, timeout=timeout)
    except (ProtocolError, httpx.HTTPError) as error:
        return f"down ({type(error).__name__})"
    return "running" if response.status_code == 200 else f"unhealthy (HTTP {response.status_code})"
