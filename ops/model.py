"""The registry of record: the ``champion`` alias, its promotion history, and rollback.

These commands only read and write the MLflow registry, so they need no ZenML: the
registry is ``CHURNOPS_MLFLOW_TRACKING_URI`` when set (the kubeflow stack's MLflow server),
else the local stack's SQLite backend.
"""

from __future__ import annotations

import os
from pathlib import Path
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
    """The promotion history of ``churn-model``, as a table.

    Read without MLflow's client, which takes seconds to import: one REST call to a
    tracking server, or one query of the backend database's ``registered_model_tags``.
    """
    return registry.format_history(registry.events_from_tags(_registered_model_tags()))


def _registered_model_tags() -> dict[str, str]:
    uri = registry_uri()
    if uri.startswith(("http://", "https://")):
        import httpx

        answer = httpx.get(f"{uri.rstrip('/')}/api/2.0/mlflow/registered-models/get",
                           params={"name": REGISTERED_MODEL_NAME}, timeout=30)
        if answer.status_code == 404:
            return {}
        answer.raise_for_status()
        tags = answer.json()["registered_model"].get("tags", [])
        return {tag["key"]: tag["value"] for tag in tags}
    from sqlalchemy import column, create_engine, inspect, select, table

    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return {}  # no registry yet
    tags = table("registered_model_tags", column("key"), column("value"), column("name"))
    engine = create_engine(uri)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("registered_model_tags"):
                return {}
            query = select(tags.c.key, tags.c.value).where(tags.c.name == REGISTERED_MODEL_NAME)
            return dict(connection.execute(query).tuples().all())
    finally:
        engine.dispose()


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
