"""Which registry versions a deployment puts live."""

from __future__ import annotations

import logging
from typing import Annotated

from zenml import log_metadata, step

from churnops import registry
from churnops.deployment import LiveDeployment, Strategy, choose_versions
from churnops.settings import CanaryBounds
from stacks.access import mlflow_client

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def resolve_versions(
    strategy: Strategy, canary_share: float, bounds: CanaryBounds,
    model_version: str | None = None,
) -> Annotated[LiveDeployment, "deployment_plan"]:
    """The deployment to put live, its models not served yet.

    basic: ``model_version`` or the registry's champion as the primary. shadow and canary:
    the registry's champion as the primary, and as candidate ``model_version`` or the newest
    version besides the champion.
    """
    plan = plan_deployment(strategy, canary_share, bounds, model_version)
    log_metadata({"strategy": strategy, "primary": plan.primary.version,
                  "candidate": plan.candidate.version if plan.candidate else "-"},
                 artifact_name="deployment_plan", infer_artifact=True)
    return plan


def plan_deployment(strategy: Strategy, canary_share: float, bounds: CanaryBounds,
                    model_version: str | None = None) -> LiveDeployment:
    """The deployment the step above describes, from the stack's registry."""
    client = mlflow_client()
    current = registry.champion_version(client)
    primary, candidate = choose_versions(
        strategy, model_version, str(current.version) if current else None,
        registry.registered_versions(client))
    plan = LiveDeployment(
        strategy=strategy,
        primary=registry.describe_version(client, primary),
        candidate=registry.describe_version(client, candidate) if candidate else None,
        canary_share=canary_share if strategy == "canary" else 0.0, bounds=bounds,
    )
    logger.info("Deploying %s: primary v%s%s.", strategy, primary,
                f", candidate v{candidate}" if candidate else "")
    return plan
