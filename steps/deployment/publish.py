"""Publish what passed the smoke test as the live deployment."""

from __future__ import annotations

import logging
from typing import Annotated

from zenml import log_metadata, step

from churnops.deployment import DeploymentEvent, LiveDeployment, ServedModel, SmokeTestResult
from churnops.deployment_record import DeploymentRecord
from stacks.access import serving_service_ids, stop_server

logger = logging.getLogger(__name__)


def retire_unused_servers(previous: LiveDeployment | None, current: LiveDeployment) -> list[str]:
    """Delete the servers of the previous deployment that the current one no longer uses;
    returns the versions that are no longer served.

    With ``seldon_progressive`` the one SeldonDeployment serves both and is never retired:
    applying the new plan already dropped the predictors it no longer has, and the ids the
    previous deployment holds name ZenML records that the apply replaced (stopping those
    does nothing).
    """
    if previous is None:
        return []
    in_use = serving_service_ids(current)
    for model in previous.models():
        if model.service_id and model.service_id not in in_use:
            stop_server(model.service_id)
    served = {m.version for m in current.models()}
    return [m.version for m in previous.models() if m.version not in served]


@step(enable_cache=False)
def publish_live_deployment(
    plan: LiveDeployment,
    primary: ServedModel,
    primary_check: SmokeTestResult,
    candidate: ServedModel | None = None,
    candidate_check: SmokeTestResult | None = None,
) -> Annotated[LiveDeployment, "live_deployment"]:
    """Publish the smoke-tested servers to the deployment record, then retire the servers
    left unused.

    Takes the smoke-test results as inputs so that it runs only after they passed.
    """
    live, retired = publish(plan, primary, candidate,
                            [c for c in (primary_check, candidate_check) if c is not None])
    log_metadata({"strategy": live.strategy, "primary": primary.version,
                  "candidate": candidate.version if candidate else "-",
                  "canary_share": live.canary_share, "retired_versions": retired or "-"},
                 artifact_name="live_deployment", infer_artifact=True)
    return live


def publish(plan: LiveDeployment, primary: ServedModel, candidate: ServedModel | None,
            checks: list[SmokeTestResult]) -> tuple[LiveDeployment, list[str]]:
    """Publish the served models as a new generation; returns it and the retired versions."""
    live = plan.model_copy(update={"primary": primary, "candidate": candidate})
    event = DeploymentEvent(
        event="deployed", strategy=live.strategy, primary=primary.version,
        candidate=candidate.version if candidate else None,
        reason="smoke tests passed: " + ", ".join(
            f"v{c.version} p50 {c.latency_p50_ms} ms p99 {c.latency_p99_ms} ms" for c in checks))
    with DeploymentRecord() as record:
        previous = record.current()
        published = record.publish(live, event, read=previous.generation if previous else 0)
    retired = retire_unused_servers(previous.deployment if previous else None, live)
    logger.info("Live: generation %d (%s). Retired servers: %s.", published.generation,
                live.strategy, ", ".join(f"v{v}" for v in retired) or "none")
    return live, retired
