"""Publish what passed the smoke test as the live deployment."""

from __future__ import annotations

import logging
from typing import Annotated

from zenml import log_metadata, step

from churnops.deployment import (
    CanaryBounds,
    DeploymentEvent,
    DeploymentHistory,
    DeploymentPlan,
    LiveDeployment,
    ModelEndpoint,
    SmokeTestResult,
    live_deployment_path,
    read_live,
    write_live,
)
from steps.deployment.model_deployer import stop_server

logger = logging.getLogger(__name__)


def retire_unused_servers(previous: LiveDeployment | None, current: LiveDeployment) -> list[str]:
    """Delete the servers of the previous deployment that the current one no longer uses."""
    if previous is None:
        return []
    in_use = {e.service_id for e in current.endpoints()}
    retired = [e for e in previous.endpoints() if e.service_id and e.service_id not in in_use]
    for endpoint in retired:
        stop_server(endpoint.service_id)
    return [e.version for e in retired]


@step(enable_cache=False)
def publish_live_deployment(
    plan: DeploymentPlan,
    champion: ModelEndpoint,
    champion_check: SmokeTestResult,
    canary_share: float,
    bounds: CanaryBounds,
    candidate: ModelEndpoint | None = None,
    candidate_check: SmokeTestResult | None = None,
) -> Annotated[LiveDeployment, "live_deployment"]:
    """Write ``live.json`` for the smoke-tested servers, then retire the servers left unused.

    Takes the smoke-test results as inputs so that it runs only after they passed.
    """
    live = LiveDeployment(
        strategy=plan.strategy, champion=champion, candidate=candidate,
        canary_share=canary_share if plan.strategy == "canary" else 0.0, bounds=bounds,
    )
    previous = read_live()
    write_live(live)
    checks = [c for c in (champion_check, candidate_check) if c is not None]
    DeploymentHistory().append(DeploymentEvent(
        event="deployed", strategy=live.strategy, champion=champion.version,
        candidate=candidate.version if candidate else None,
        reason="smoke tests passed: " + ", ".join(
            f"v{c.version} p50 {c.latency_p50_ms} ms p99 {c.latency_p99_ms} ms" for c in checks)))
    retired = retire_unused_servers(previous, live)
    log_metadata({"strategy": live.strategy, "champion": champion.version,
                  "candidate": candidate.version if candidate else "-",
                  "canary_share": live.canary_share, "retired_versions": retired or "-"},
                 artifact_name="live_deployment", infer_artifact=True)
    logger.info("Live: %s (%s). Retired servers: %s.", live_deployment_path(), live.strategy,
                ", ".join(f"v{v}" for v in retired) or "none")
    return live
