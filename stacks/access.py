"""The active stack, reached at run time: the one module steps and operations use for it.

Nothing here looks a component up when it is imported. It is also the one place that knows
model deployer flavors. Steps and operations call four functions that work on every flavor:
``serve_slot`` (serve a deployment plan's slot), ``served_promotion``, ``served_rollback``
and ``served_canary_share`` (make the servers follow the deployment record after it changed).

- ``mlflow`` (the local stack): one model server per registry version, named after it
  (service name ``churn-model-v<N>``, pipeline step name ``deploy_model_server.v<N>``), so a
  primary and a candidate always run on separate servers, and promoting a candidate keeps
  its server running instead of starting another one. ``SERVER_CONFIGS`` maps such a flavor
  to the builder of its per-version service configuration (``start_server``).
- ``seldon_progressive`` (Kubernetes): ONE SeldonDeployment for the model (``churn-model``)
  whose predictors are the primary and, for shadow and canary, the candidate. Serving a
  slot applies the plan's rollout as far as that slot; promotion, rollback and a new canary
  share are the deployer's ``promote``, ``rollback`` and ``set_canary_share``. A slot's
  endpoint is the in-cluster URL of its predictor's Service (``predictor_address`` in
  ``stacks/plugins/model_deployer/manifests.py``, which also names the predictor).

Either way the prediction service routes each request to the slot's endpoint in the
deployment record.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from zenml.client import Client
from zenml.model_deployers import BaseModelDeployer
from zenml.models.v2.misc.service import ServiceType
from zenml.services import BaseService, ServiceConfig

from churnops import REGISTERED_MODEL_NAME, features
from churnops.deployment import LiveDeployment, ServedModel, Slot
from stacks.plugins.data_validator.materializer import ValidationReportMaterializer

if TYPE_CHECKING:
    from feast import FeatureStore
    from mlflow import MlflowClient

    from stacks.plugins.model_deployer.deployer import SeldonProgressiveModelDeployer
    from stacks.plugins.model_deployer.manifests import Rollout
    from stacks.plugins.model_deployer.service import SeldonRolloutService

logger = logging.getLogger(__name__)

__all__ = ["ValidationReportMaterializer", "active_component", "active_feature_store",
           "active_model_registry", "mlflow_client", "serve_slot", "served_canary_share",
           "served_promotion", "served_rollback", "serving_service_ids", "start_server",
           "stop_server", "server_state"]


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


def storage_uri(version: ServedModel) -> str:
    """Where a version's model files are stored (``s3://...``), for servers that fetch them."""
    if not version.model_uri.startswith("models:/"):
        return version.model_uri
    client = mlflow_client()
    return client.get_model_version_download_uri(REGISTERED_MODEL_NAME, version.version)


SERVER_CONFIGS: dict[str, Callable[[ServedModel, int], tuple[ServiceConfig, ServiceType]]] = {
    "mlflow": mlflow_server_config,
}
"""Model deployer flavor -> builder of its service configuration for one version, for the
flavors that run one server per version (``start_server``). ``seldon_progressive`` serves
all versions from one SeldonDeployment instead (``serve_slot``)."""


def server_config(
    deployer: BaseModelDeployer, version: ServedModel, timeout: int
) -> tuple[ServiceConfig, ServiceType]:
    """The deployer flavor's service configuration for ``version``."""
    build = SERVER_CONFIGS.get(deployer.flavor)
    if build is None:
        hint = (" It serves every version from one SeldonDeployment: use serve_slot."
                if deployer.flavor == SELDON_FLAVOR else "")
        raise NotImplementedError(
            f"No per-version server configuration for model deployer flavor "
            f"'{deployer.flavor}'; supported: {sorted(SERVER_CONFIGS)}.{hint}"
        )
    return build(version, timeout)


def start_server(version: ServedModel, timeout: int) -> BaseService:
    """A running server of its own for ``version`` (``mlflow`` flavor): the one already
    running, or a new one.

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


# Serving a deployment, on every flavor ---------------------------------------------------------

SELDON_FLAVOR = "seldon_progressive"
SELDON_DEPLOYMENT = REGISTERED_MODEL_NAME
"""The one SeldonDeployment of the model: its predictors are the versions being served."""
ROLLOUT_TIMEOUT = 300
"""Seconds to wait for the SeldonDeployment after a promotion, rollback or new share."""


def serve_slot(plan: LiveDeployment, slot: Slot, timeout: int) -> ServedModel:
    """Serve the plan's model in ``slot``; it comes back with its endpoint and service id.

    ``mlflow``: the version's own server (``start_server``), reused when it runs already.
    ``seldon_progressive``: the SeldonDeployment is applied with the plan's rollout as far
    as ``slot``: the primary alone for ``primary``; for the candidate's slot the primary
    and the candidate, shadowed or with the plan's canary share. The endpoint is the URL
    of the slot's predictor, and the service id that of the deployment's ZenML record
    (a new one each time the rollout changes).

    Raises if the server does not come up within ``timeout`` seconds. A SeldonDeployment
    that does not become available is left as it is, for ``kubectl describe``; the
    deployment record still routes to what is live.
    """
    model = plan.model(slot)
    deployer = active_model_deployer()
    seldon = _seldon(deployer)
    if seldon is None:
        service = start_server(model, timeout)
        return model.served_at(service.get_prediction_url(), str(service.uuid))
    rollout = seldon_rollout(plan, slot)
    applied = seldon.apply_rollout(rollout, timeout, pipeline_name=DEPLOYMENT_PIPELINE,
                                   pipeline_step_name=f"{SERVER_STEP}.{slot}")
    if not applied.is_running:
        raise RuntimeError(
            f"SeldonDeployment {rollout.deployment_name} ({rollout.strategy}) did not become "
            f"available within {timeout} s: {applied.get_service_status_message()}")
    return model.served_at(applied.endpoints()[model.version], str(applied.uuid))


def served_promotion(before: LiveDeployment) -> None:
    """The servers follow the record after ``before``'s candidate was promoted.

    ``mlflow``: the old primary's server is deleted (the candidate's keeps serving).
    ``seldon_progressive``: the deployer's ``promote``; the candidate's predictor keeps its
    name, Service and pods.
    """
    candidate = _candidate(before)
    seldon = _seldon(active_model_deployer())
    if seldon is not None:
        _follow_record(seldon, before, before.promoted(),
                       lambda name: seldon.promote(name, ROLLOUT_TIMEOUT))
        return
    old = before.primary
    if old.service_id and old.service_id != candidate.service_id:
        stop_server(old.service_id)


def served_rollback(before: LiveDeployment) -> None:
    """The servers follow the record after ``before``'s candidate was rolled back.

    ``mlflow``: the candidate's server is deleted. ``seldon_progressive``: the deployer's
    ``rollback``, which drops the candidate's predictor.
    """
    candidate = _candidate(before)
    seldon = _seldon(active_model_deployer())
    if seldon is not None:
        _follow_record(seldon, before, before.rolled_back("rolled back"),
                       lambda name: seldon.rollback(name, ROLLOUT_TIMEOUT))
        return
    if candidate.service_id and candidate.service_id != before.primary.service_id:
        stop_server(candidate.service_id)


def served_canary_share(live: LiveDeployment, share: float) -> None:
    """The servers follow the record after ``live``'s canary share became ``share``.

    ``mlflow``: nothing; the prediction service splits the requests by the record.
    ``seldon_progressive``: the deployer's ``set_canary_share``, so the predictors' weights
    (which Seldon's ingress applies) say the same as the record.
    """
    if live.strategy != "canary":
        raise ValueError(f"A {live.strategy} deployment has no canary share.")
    seldon = _seldon(active_model_deployer())
    if seldon is not None:
        after = live.model_copy(update={"canary_share": share})
        _follow_record(seldon, live, after,
                       lambda name: seldon.set_canary_share(name, share, ROLLOUT_TIMEOUT))


def withdraw_served(live: LiveDeployment | None, model: ServedModel) -> None:
    """Take ``model`` out of service after it failed its smoke test; ``live`` stays served.

    ``mlflow``: its server is stopped, not deleted, so its log stays for diagnosis (unless
    ``live`` uses it). ``seldon_progressive``: the SeldonDeployment goes back to serving
    ``live`` (or is deleted when nothing is live yet).
    """
    deployer = active_model_deployer()
    seldon = _seldon(deployer)
    if seldon is None:
        in_use = serving_service_ids(live) if live else set()
        if model.service_id and model.service_id not in in_use:
            stop_server(model.service_id, delete=False)
        return
    if live is not None:
        seldon.apply_rollout(seldon_rollout(live), ROLLOUT_TIMEOUT)
    elif (current := seldon.find_rollout(SELDON_DEPLOYMENT)) is not None:
        _delete(deployer, current.uuid)


def reconcile_served(live: LiveDeployment) -> list[str]:
    """Retire what the deployer serves beyond ``live``; returns the retired service ids.

    For a change the stack did not make: the prediction service rolls a failing canary back
    in the deployment record only (it has no access to the stack).
    """
    deployer = active_model_deployer()
    seldon = _seldon(deployer)
    if seldon is not None:
        from stacks.plugins.model_deployer.service import rollout_of

        current = seldon.find_rollout(SELDON_DEPLOYMENT)
        if current is None or _serves(rollout_of(current), live):
            return []
        seldon.apply_rollout(seldon_rollout(live), ROLLOUT_TIMEOUT)
        return [str(current.uuid)]
    in_use = serving_service_ids(live)
    retired = [str(s.uuid) for s in deployer.find_model_server() if str(s.uuid) not in in_use]
    for service_id in retired:
        stop_server(service_id)
    return retired


def serving_service_ids(live: LiveDeployment) -> set[str]:
    """The ids of the deployer's services that serve ``live``; the others can be retired.

    ``mlflow``: its models' service ids. ``seldon_progressive``: also the current record of
    the one SeldonDeployment. Each apply replaces that record, so the ids a deployment
    record holds may name records that are gone (retiring those is a no-op), while the
    resource that serves them lives on under the current id.
    """
    in_use = {m.service_id for m in live.models() if m.service_id}
    seldon = _seldon(active_model_deployer())
    if seldon is not None:
        current = seldon.find_rollout(SELDON_DEPLOYMENT)
        if current is not None:
            in_use.add(str(current.uuid))
    return in_use


def seldon_rollout(plan: LiveDeployment, slot: Slot | None = None) -> Rollout:
    """The rollout of the one SeldonDeployment that serves ``plan`` as far as ``slot``.

    ``primary``: a basic rollout of the primary. The candidate's slot, or None: the whole
    plan. Model URIs become storage URIs, which Seldon's storage initializer downloads.
    """
    from stacks.plugins.model_deployer.manifests import Rollout

    if slot is not None:
        plan.model(slot)  # raises for a slot the plan does not have
    candidate = plan.candidate if slot != "primary" else None

    def stored(model: ServedModel) -> ServedModel:
        return model.model_copy(update={"model_uri": storage_uri(model), "endpoint": None,
                                        "service_id": None})

    return Rollout(
        deployment_name=SELDON_DEPLOYMENT, model_name=REGISTERED_MODEL_NAME,
        strategy=plan.strategy if candidate else "basic", primary=stored(plan.primary),
        candidate=stored(candidate) if candidate else None,
        canary_share=plan.canary_share if candidate and plan.strategy == "canary" else 0.0,
    )


def _seldon(deployer: BaseModelDeployer) -> SeldonProgressiveModelDeployer | None:
    """``deployer`` when it serves rollouts from one SeldonDeployment, else None."""
    if deployer.flavor != SELDON_FLAVOR:
        return None
    return cast("SeldonProgressiveModelDeployer", deployer)


def _candidate(live: LiveDeployment) -> ServedModel:
    if live.candidate is None:
        raise ValueError(f"A {live.strategy} deployment has no candidate.")
    return live.candidate


def _follow_record(
    deployer: SeldonProgressiveModelDeployer, before: LiveDeployment, after: LiveDeployment,
    change: Callable[[str], SeldonRolloutService],
) -> None:
    """Make the SeldonDeployment serve ``after``, which the record now says is live.

    When it serves ``before`` (same strategy and versions), as it should, ``change`` does it
    (the deployer's promote, rollback or set_canary_share). Otherwise (a deployment that
    failed after applying a new rollout, or a change by hand) ``after`` is applied as it
    is, so the cluster follows the record rather than promoting whatever it holds.
    """
    from stacks.plugins.model_deployer.service import rollout_of

    current = deployer.find_rollout(SELDON_DEPLOYMENT)
    if current is not None and _serves(rollout_of(current), before):
        service = change(SELDON_DEPLOYMENT)
    else:
        logger.warning("SeldonDeployment %s does not serve what the deployment record said "
                       "(%s, primary v%s); applying what the record says now.",
                       SELDON_DEPLOYMENT, before.strategy, before.primary.version)
        service = deployer.apply_rollout(seldon_rollout(after), ROLLOUT_TIMEOUT)
    if not service.is_running:
        logger.warning("SeldonDeployment %s is not available yet: %s", SELDON_DEPLOYMENT,
                       service.get_service_status_message())


def _serves(rollout: Rollout, live: LiveDeployment) -> bool:
    candidate = rollout.candidate.version if rollout.candidate else None
    return (rollout.strategy, rollout.primary.version, candidate) == (
        live.strategy, live.primary.version, live.candidate.version if live.candidate else None)


# Stopping servers ------------------------------------------------------------------------------


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


def drift_reference(mirror: Any) -> Any:
    """The fixed drift reference of a ZenML model version (``model_version_of``): the first
    training's holdout (the reference pool), which every retrained version carries as
    ``reference_set``."""
    return (mirror.get_artifact("reference_set") or mirror.get_artifact("holdout_set")).load()


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
