"""Serve one slot of a deployment plan through the stack's model deployer.

``stacks.access.serve_slot`` knows the flavors: the version's own MLflow server on the local
stack (reused when it runs already), or the predictor of the one SeldonDeployment on
Kubernetes.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from zenml import log_metadata, step

from churnops.deployment import DeploymentEvent, LiveDeployment, ServedModel, Slot
from churnops.deployment_record import DeploymentRecord
from stacks.access import serve_slot

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def deploy_model_server(
    plan: LiveDeployment, slot: Slot = "primary", timeout: int = 120,
) -> Annotated[ServedModel, "served_model"]:
    """Serve the plan's model in ``slot`` through the stack's model deployer.

    ``mlflow``: a server already running for that version is reused. ``seldon_progressive``:
    the SeldonDeployment is applied with the plan as far as ``slot``, and the endpoint is
    that slot's predictor. A server that does not come up within ``timeout`` seconds fails
    the run and is recorded in the deployment history.
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
        return serve_slot(plan, slot, timeout)
    except Exception as error:
        with DeploymentRecord() as record:
            record.append(DeploymentEvent(
                event="failed", strategy=plan.strategy, primary=plan.primary.version,
                candidate=plan.candidate.version if plan.candidate else None,
                reason=f"server for v{model.version} did not start: {error}"))
        raise
