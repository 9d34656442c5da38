"""Start (or reuse) the model server of one registry version."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Literal

from zenml import log_metadata, step

from churnops.deployment import DeploymentEvent, DeploymentHistory, DeploymentPlan, ModelEndpoint
from steps.deployment.model_deployer import start_server

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def deploy_model_server(
    plan: DeploymentPlan, role: Literal["champion", "candidate"] = "champion",
    timeout: int = 120,
) -> Annotated[ModelEndpoint, "model_endpoint"]:
    """Serve the plan's ``role`` version through the stack's model deployer.

    A server already running for that version is reused. A server that does not come up
    within ``timeout`` seconds fails the run and is recorded in the deployment history.
    """
    version = plan.version(role)
    started = time.monotonic()
    try:
        service = start_server(version, timeout)
    except Exception as error:
        DeploymentHistory().append(DeploymentEvent(
            event="failed", strategy=plan.strategy, champion=plan.champion.version,
            candidate=plan.candidate.version if plan.candidate else None,
            reason=f"server for v{version.version} did not start: {error}"))
        raise
    endpoint = ModelEndpoint(
        version=version.version, endpoint=service.get_prediction_url(),
        threshold=version.threshold, validation_suite=version.validation_suite,
        service_id=str(service.uuid),
    )
    seconds = round(time.monotonic() - started, 1)
    log_metadata({"version": version.version, "endpoint": endpoint.endpoint,
                  "service_id": endpoint.service_id, "seconds_to_ready": seconds},
                 artifact_name="model_endpoint", infer_artifact=True)
    logger.info("%s v%s is served at %s (ready in %.1f s).",
                role.capitalize(), version.version, endpoint.endpoint, seconds)
    return endpoint
