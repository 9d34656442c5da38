"""Which registry versions a deployment puts live."""

from __future__ import annotations

import logging
from typing import Annotated

import mlflow
from mlflow import MlflowClient
from zenml import log_metadata, step

from churnops import REGISTERED_MODEL_NAME, registry
from churnops.deployment import DeploymentPlan, RegistryVersion, Strategy, choose_versions
from steps.registry.model_registry import active_model_registry

logger = logging.getLogger(__name__)

THRESHOLD_TAG = "decision_threshold"
SUITE_TAG = "validation_suite"


def describe_version(client: MlflowClient, version: str) -> RegistryVersion:
    """A version's model URI, decision threshold and validation suite, from the registry."""
    tags = client.get_model_version(REGISTERED_MODEL_NAME, version).tags
    missing = [tag for tag in (THRESHOLD_TAG, SUITE_TAG) if tag not in tags]
    if missing:
        raise ValueError(f"{REGISTERED_MODEL_NAME} v{version} lacks the tags {missing}; "
                         "only versions registered by the training pipeline can be deployed.")
    return RegistryVersion(
        version=version,
        model_uri=f"models:/{REGISTERED_MODEL_NAME}/{version}",
        threshold=float(tags[THRESHOLD_TAG]),
        validation_suite=mlflow.artifacts.load_dict(tags[SUITE_TAG]),
    )


@step(enable_cache=False)
def resolve_versions(
    strategy: Strategy, model_version: str | None = None
) -> Annotated[DeploymentPlan, "deployment_plan"]:
    """Pick the champion (and for shadow or canary the candidate) from the stack's registry.

    basic: ``model_version`` or the registry's champion. shadow and canary: the registry's
    champion, and as candidate ``model_version`` or the newest version besides the champion.
    """
    client = active_model_registry().mlflow_client
    current = registry.champion_version(client)
    registered = [str(v.version) for v in
                  client.search_model_versions(f"name='{REGISTERED_MODEL_NAME}'")]
    champion, candidate = choose_versions(
        strategy, model_version, str(current.version) if current else None, registered)
    plan = DeploymentPlan(
        strategy=strategy,
        champion=describe_version(client, champion),
        candidate=describe_version(client, candidate) if candidate else None,
    )
    log_metadata({"strategy": strategy, "champion": champion, "candidate": candidate or "-"},
                 artifact_name="deployment_plan", infer_artifact=True)
    logger.info("Deploying %s: champion v%s%s.", strategy, champion,
                f", candidate v{candidate}" if candidate else "")
    return plan
