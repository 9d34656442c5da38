"""The registry of record: the ``champion`` alias, its promotion history, and rollback.

These commands only read and write the MLflow registry, so they need no ZenML: the
registry is ``CHURNOPS_MLFLOW_TRACKING_URI`` when set (the kubeflow stack's MLflow server),
else the local stack's SQLite backend.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from churnops import REGISTERED_MODEL_NAME, paths, registry
from ops.errors import UserError

if TYPE_CHECKING:
    from mlflow import MlflowClient

TRACKING_URI_ENV = "CHURNOPS_MLFLOW_TRACKING_URI"


def registry_uri() -> str:
    return os.environ.get(TRACKING_URI_ENV) or paths.mlflow_tracking_uri()


def registry_client() -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(registry_uri())


def history() -> str:
    """The promotion history of ``churn-model``, as a table."""
    client = registry_client()
    registry.ensure_registered_model(client)
    return registry.format_history(registry.history(client))


def promote(version: str) -> registry.HistoryEvent:
    """Give the champion alias to ``version`` by hand (recorded in the history)."""
    client = registry_client()
    if str(version) not in registry.registered_versions(client):
        raise UserError(f"{REGISTERED_MODEL_NAME} has no version {version}.",
                        hint="python run.py model history")
    event = registry.promote(client, str(version))
    _mirror(event.version)
    return event


def rollback() -> registry.HistoryEvent:
    """Give the champion alias back to the previous champion (recorded too)."""
    try:
        event = registry.rollback(registry_client())
    except RuntimeError as error:
        raise UserError(str(error), hint="python run.py model history") from error
    _mirror(event.version)
    return event


def _mirror(version: str) -> None:
    """The ZenML model version of the new champion takes the ``production`` stage."""
    from ops.pipelines import start_zenml
    from stacks.access import mirror_champion

    start_zenml()
    mirror_champion(version)


def require_champion() -> str:
    """The champion's version, or a ``UserError`` that says how to get one."""
    champion = registry.champion_version(registry_client())
    if champion is None:
        raise UserError(f"{REGISTERED_MODEL_NAME} has no champion yet.",
                        hint="python run.py pipeline training")
    return str(champion.version)
