"""Start (or reuse) the model server of one registry version."""

from __future__ import annotations

import logging
import time
from typing import Annotated

from zenml import log_metadata, step

from churnops.deployment import DeploymentEvent, LiveDeployment, ServedModel, Slot
from churnops.deployment_record import DeploymentRecord
from stacks.access import start_server

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def deploy_model_server(
    plan: LiveDeployment, slot: Slot = "primary", timeout: int = 120,
) -> Annotated[ServedModel, "served_model"]:
    """Serve the plan's model in ``slot`` through the stack's model deployer.

    A server already running for that version is reused. A server that does not come up
    within ``timeout`` seconds fails the run and is recorded in the deployment history.
    """
    started = time.monotonic()
    served = serve_in_slot(plan, slot, timeout)
    seconds = round(time.monotonic() - started, 1)
    log_metadata({"version": served.version, "slot": slot, "endpoint": served.endpoint,
                  "service_id": served.service_id, "seconds_to_ready": seconds},
                 artifact_name="served_model", infer_artifact=True)
    logger.info("%s v%s is served at %s (ready in %.1f s).",
                slot.capitalize(), served.version, served.endpoint, seconds)
    return served


def serve_in_slot(plan: LiveDeployment, slot: Slot, timeout: int) -> ServedModel:
    """The plan's model in ``slot``, served; a failure is recorded in the history first."""
    model = plan.model(slot)
    try:
        service = start_server(model, timeout)
    except Exception as error:
        with DeploymentRecord() as record:
            record.append(DeploymentEvent(
                event="failed", strategy=plan.strategy, primary=plan.primary.version,
                candidate=plan.candidate.version if plan.candidate else None,
                reason=f"server for v{model.version} did not start: {error}"))
        raise
    return model.served_at(service.get_prediction_url(), str(service.uuid))
