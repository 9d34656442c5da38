"""The active stack, reached at run time: the one module steps and operations use for it.

Nothing here looks a component up when it is imported. It is also the one place that knows
model deployer flavors: each flavor has its own service configuration, and
``SERVER_CONFIGS`` maps a flavor to the function that builds it (the local stack's
``mlflow`` deployer, and the ``seldon_progressive`` plugin for Kubernetes).

One model server serves one registry version and is named after it (service name
``churn-model-v<N>``, pipeline step name ``deploy_model_server.v<N>``), so a primary and a
candidate always run on separate servers, and promoting a candidate keeps its server
running instead of starting another one.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from zenml.client import Client
from zenml.model_deployers import BaseModelDeployer
from zenml.models.v2.misc.service import ServiceType
from zenml.services import BaseService, ServiceConfig

from churnops import REGISTERED_MODEL_NAME, features
from churnops.deployment import ServedModel
from stacks.plugins.data_validator.materializer import ValidationReportMaterializer

if TYPE_CHECKING:
    from feast import FeatureStore
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

__all__ = ["ValidationReportMaterializer", "active_component", "active_feature_store",
           "active_model_registry", "mlflow_client", "start_server", "stop_server",
           "server_state"]


def active_component(attribute: str) -> Any:
    """``Client().active_stack.<attribute>``, or an error that says how to get one."""
    component = getattr(Client().active_stack, attribute)
    if component is None:
        kind = attribute.replace("_", " ")
        raise RuntimeError(
            f"The active stack has no {kind}. Switch to the 'local' stack "
            f"(`zenml stack set local`) or add a {kind} to this stack."
        )
    return component


def active_model_registry() -> Any:
    """The stack's model registry, with ``mlflow.*`` pointed at its backend.

    The experiment tracker resets MLflow's global URI after each tracked step, so it is
    set again on every use.
    """
    model_registry = active_component("model_registry")
    model_registry.configure_mlflow()
    return model_registry


def mlflow_client() -> MlflowClient:
    """An MLflow client of the stack's model registry (the registry of record)."""
    return active_model_registry().mlflow_client


def active_feature_store() -> FeatureStore:
    """Open (once per process) the Feast repo that the active stack's feature store names."""
    return features.open_store(active_component("feature_store").config.feast_repo)


def active_model_deployer() -> BaseModelDeployer:
    """The active stack's model deployer."""
    return active_component("model_deployer")

DEPLOYMENT_PIPELINE = "churn_deployment"
SERVER_STEP = "deploy_model_server"
STOP_TIMEOUT = 30


def server_name(version: str) -> str:
    """The model server of a version: ``churn-model-v<N>``."""
    return f"{REGISTERED_MODEL_NAME}-v{version}"


def mlflow_server_config(version: ServedModel, timeout: int
                         ) -> tuple[ServiceConfig, ServiceType]:
    """Adapter for the ``mlflow`` flavor: a local MLflow scoring server for one version.

    The server daemon runs ``uvicorn`` found on ``PATH``, so the interpreter's own ``bin``
    folder goes first on it: a virtualenv's Python called without activating the
    virtualenv would otherwise start a daemon that exits at once (status 127).
    """
    from zenml.integrations.mlflow.services.mlflow_deployment import (
        MLFlowDeploymentConfig,
        MLFlowDeploymentService,
    )

    interpreter_bin = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != interpreter_bin:
        os.environ["PATH"] = os.pathsep.join([interpreter_bin, os.environ.get("PATH", "")])
    config = MLFlowDeploymentConfig(
        name=server_name(version.version),
        model_uri=version.model_uri,
        model_name=REGISTERED_MODEL_NAME,
        registry_model_name=REGISTERED_MODEL_NAME,
        registry_model_version=version.version,
        pipeline_name=DEPLOYMENT_PIPELINE,
        pipeline_step_name=f"{SERVER_STEP}.v{version.version}",
        timeout=timeout,
    )
    return config, MLFlowDeploymentService.SERVICE_TYPE


def seldon_server_config(version: ServedModel, timeout: int
                         ) -> tuple[ServiceConfig, ServiceType]:
    """Adapter for the ``seldon_progressive`` flavor: a SeldonDeployment for one version.

    Each version gets its own single-predictor deployment (MLServer, V2 protocol), like
    the local servers, so the prediction service routes shadow and canary traffic the same
    way on every stack. Seldon's storage initializer downloads the model from the
    registry's artifact location, so ``models:/`` URIs are resolved first.
    """
    from stacks.plugins.model_deployer.manifests import Rollout
    from stacks.plugins.model_deployer.service import SeldonRolloutConfig, SeldonRolloutService

    name = server_name(version.version)
    rollout = Rollout(
        deployment_name=name, model_name=REGISTERED_MODEL_NAME, strategy="basic",
        primary=version.model_copy(update={"model_uri": storage_uri(version)}),
    )
    config = SeldonRolloutConfig(
        name=name, model_name=REGISTERED_MODEL_NAME, rollout=rollout,
        pipeline_name=DEPLOYMENT_PIPELINE, pipeline_step_name=f"{SERVER_STEP}.v{version.version}",
    )
    return config, SeldonRolloutService.SERVICE_TYPE


def storage_uri(version: ServedModel) -> str:
    """Where a version's model files are stored (``s3://...``), for servers that fetch them."""
    if not version.model_uri.startswith("models:/"):
        return version.model_uri
    client = mlflow_client()
    return client.get_model_version_download_uri(REGISTERED_MODEL_NAME, version.version)


SERVER_CONFIGS: dict[str, Callable[[ServedModel, int], tuple[ServiceConfig, ServiceType]]] = {
    "mlflow": mlflow_server_config,
    "seldon_progressive": seldon_server_config,
}
"""Model deployer flavor -> builder of its service configuration for one version."""


def server_config(
    deployer: BaseModelDeployer, version: ServedModel, timeout: int
) -> tuple[ServiceConfig, ServiceType]:
    """The deployer flavor's service configuration for ``version``."""
    build = SERVER_CONFIGS.get(deployer.flavor)
    if build is None:
        raise NotImplementedError(
            f"No server configuration for model deployer flavor '{deployer.flavor}'; "
            f"supported: {sorted(SERVER_CONFIGS)}."
        )
    return build(version, timeout)


def start_server(version: ServedModel, timeout: int) -> BaseService:
    """A running server for ``version``: the one already running, or a new one.

    A stopped server of the version is deleted and started afresh. Raises if the server
    does not come up within ``timeout`` seconds (and stops what was started).
    """
    deployer = active_model_deployer()
    config, service_type = server_config(deployer, version, timeout)
    for service in deployer.find_model_server(
        service_name=config.service_name, service_type=service_type
    ):
        if service.is_running:
            logger.info("Reusing the running server %s for version %s.",
                        service.uuid, version.version)
            return service
        _delete(deployer, service.uuid)
    # Continuous mode matches servers by pipeline and step name, which name the version.
    # The default mode would match on the whole configuration, but ZenML 0.98 ignores the
    # configuration filter and would hand back another version's server.
    service = deployer.deploy_model(config, service_type=service_type, timeout=timeout,
                                    continuous_deployment_mode=True)
    if not service.is_running:
        message = service.get_service_status_message()
        deployer.stop_model_server(service.uuid, timeout=STOP_TIMEOUT, force=True)
        raise RuntimeError(
            f"The server for version {version.version} did not start within {timeout} s: "
            f"{message}"
        )
    return service


def stop_server(service_id: str, delete: bool = True) -> None:
    """Stop a model server; delete it (configuration and logs) unless ``delete`` is False.

    A server that no longer exists is ignored.
    """
    deployer = active_model_deployer()
    uuid = UUID(service_id)
    if not deployer.find_model_server(service_uuid=uuid):
        return
    if delete:
        _delete(deployer, uuid)
    else:
        deployer.stop_model_server(uuid, timeout=STOP_TIMEOUT, force=True)


def _delete(deployer: BaseModelDeployer, uuid: UUID) -> None:
    """Stop and delete a server; forget it even when its files are already gone."""
    try:
        deployer.delete_model_server(uuid, timeout=STOP_TIMEOUT, force=True)
    except RuntimeError as error:
        logger.warning("Forgetting model server %s, which could not be deleted: %s", uuid, error)
        Client().delete_service(uuid)


def server_state(service_id: str | None) -> str:
    """The deployer's view of a server: ``running``, another state, or ``unknown``."""
    if service_id is None:
        return "unknown"
    services = active_model_deployer().find_model_server(service_uuid=UUID(service_id))
    if not services:
        return "gone"
    service = services[0]
    return "running" if service.is_running else service.status.state.value


def stop_all_servers() -> list[str]:
    """Stop and delete every model server the active stack's model deployer knows."""
    deployer = active_model_deployer()
    services = deployer.find_model_server()
    for service in services:
        _delete(deployer, service.uuid)
    return [str(service.uuid) for service in services]


# Lineage: the ZenML model version that mirrors a registry version ------------------------------


def model_version_of(version: str) -> Any:
    """The ZenML model version that mirrors registry version ``version``."""
    from churnops.registry import ZENML_VERSION_TAG

    tags = mlflow_client().get_model_version(REGISTERED_MODEL_NAME, str(version)).tags
    if ZENML_VERSION_TAG not in tags:
        raise LookupError(f"{REGISTERED_MODEL_NAME} v{version} has no ZenML model version "
                          "(it was not registered by a training pipeline run)")
    return Client().get_model_version(REGISTERED_MODEL_NAME, UUID(tags[ZENML_VERSION_TAG]))


def training_artifact(version: str, name: str) -> Any:
    """The artifact ``name`` (e.g. ``holdout_set``) of registry version ``version``, loaded."""
    return model_version_of(version).get_artifact(name).load()


def linked_artifacts(model_version_id: UUID) -> dict[str, str]:
    """Artifact name -> artifact version id, for the artifacts linked to a model version."""
    versions = Client().list_artifact_versions(model_version_id=model_version_id, size=100)
    return {v.artifact.name: str(v.id) for v in versions.items}


def mirror_champion(version: str) -> None:
    """Give the ZenML mirror of ``version`` the ``production`` stage (the champion alias is
    the source of truth; the stage follows it). Versions without a mirror are skipped."""
    try:
        mirror = model_version_of(version)
    except LookupError as error:
        logger.warning("Not mirrored: %s", error)
        return
    mirror.set_stage("production", force=True)


def new_model_version(description: str, artifacts: dict[str, Any]) -> Any:
    """A new ZenML model version of the model, holding ``artifacts`` (name -> data).

    For pipelines that train only when they decide to (continuous training): a pipeline
    configured with a model gets a model version on every run, trained or not. Each
    artifact is saved, as the step's output would be, and linked to the new version.
    """
    from zenml import save_artifact
    from zenml.model.utils import link_artifact_version_to_model_version

    client = Client()
    try:
        client.get_model(REGISTERED_MODEL_NAME)
    except KeyError:
        client.create_model(name=REGISTERED_MODEL_NAME)
    version = client.create_model_version(REGISTERED_MODEL_NAME, description=description)
    for name, data in artifacts.items():
        link_artifact_version_to_model_version(save_artifact(data, name=name), version)
    return version
