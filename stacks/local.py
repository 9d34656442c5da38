"""The ``local`` stack: everything embedded, nothing to install or run.

| component          | name         | flavor                                     |
|--------------------|--------------|--------------------------------------------|
| orchestrator       | local        | local                                      |
| artifact store     | local        | local (``<state>/zenml-artifacts``)        |
| experiment tracker | mlflow       | mlflow (SQLite in ``<state>/mlflow``)      |
| model registry     | mlflow       | mlflow                                     |
| model deployer     | mlflow       | mlflow (local prediction server daemons)   |
| feature store      | feast        | feast (``feature_repo/``, SQLite online)   |
| data validator     | gx_evidently | gx_evidently (stack plugin: GX 1.x + Evidently) |
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from churnops import paths
from stacks.registration import ComponentSpec, FlavorSpec, register_stack

if TYPE_CHECKING:
    from zenml.client import Client

logger = logging.getLogger(__name__)

STACK_NAME = "local"
BARE_DEFAULT_STACK = "default"


def components() -> list[ComponentSpec]:
    from zenml.enums import StackComponentType as T

    return [
        ComponentSpec(T.ORCHESTRATOR, "local", "local"),
        ComponentSpec(T.ARTIFACT_STORE, "local", "local",
                      {"path": str(paths.state_dir() / "zenml-artifacts")}),
        ComponentSpec(T.EXPERIMENT_TRACKER, "mlflow", "mlflow",
                      {"tracking_uri": paths.mlflow_tracking_uri()}),
        ComponentSpec(T.MODEL_REGISTRY, "mlflow", "mlflow"),
        ComponentSpec(T.MODEL_DEPLOYER, "mlflow", "mlflow",
                      {"service_path": str(paths.state_dir() / "model-servers")}),
        ComponentSpec(T.FEATURE_STORE, "feast", "feast",
                      {"feast_repo": str(paths.FEATURE_REPO)}),
        ComponentSpec(T.DATA_VALIDATOR, "gx_evidently", "gx_evidently"),
    ]


def flavors() -> list[FlavorSpec]:
    from zenml.enums import StackComponentType as T

    return [FlavorSpec("stacks.plugins.data_validator.flavor.GXEvidentlyDataValidatorFlavor",
                       T.DATA_VALIDATOR)]


def ensure_local_stack(client: Client) -> str:
    """Register the local stack if missing and activate it, when the bare default is active.

    A stack the user picked (``zenml stack set``, or ``ZENML_ACTIVE_STACK_ID`` as pods and
    shared ZenML servers use) stays active, and nothing is registered beside it. Returns
    the name of the stack the run will use.
    """
    active = client.active_stack_model.name
    if active != BARE_DEFAULT_STACK and active != STACK_NAME:
        return active
    if not register_stack(client, STACK_NAME, components(), flavors()):
        _warn_if_registered_elsewhere(client)
    if active == BARE_DEFAULT_STACK:
        client.activate_stack(STACK_NAME)
        logger.info("Activated the '%s' stack (was ZenML's bare default).", STACK_NAME)
        return STACK_NAME
    return active


def _warn_if_registered_elsewhere(client: Client) -> None:
    """The stack lives in the user's ZenML config, so another checkout may have made it."""
    from zenml.enums import StackComponentType

    (feature_store,) = client.get_stack(STACK_NAME).components[StackComponentType.FEATURE_STORE]
    registered_repo = feature_store.configuration.get("feast_repo")
    if registered_repo != str(paths.FEATURE_REPO):
        logger.warning(
            "The '%s' stack was registered from another checkout (%s), so its MLflow, Feast "
            "and artifact folders are that checkout's. To give this checkout its own, use a "
            "ZenML config of its own: export ZENML_CONFIG_PATH=%s",
            STACK_NAME, registered_repo, paths.state_dir() / "zenml",
        )
