"""The model registry: versions of ``churn-model``, the ``champion`` alias and its history.

Every change of the champion is an event in an append-only log kept as tags on the
registered model (``history.<ns timestamp>`` = JSON). The log is what ``--history`` prints
and what ``--rollback`` replays: promotions push a version, rollbacks pop one.
Aliases are used throughout; registry stages are deprecated in MLflow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from churnops import CHAMPION_ALIAS, REGISTERED_MODEL_NAME
from churnops.deployment import ServedModel

if TYPE_CHECKING:  # MLflow takes seconds to import; the history reader does without it
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

HISTORY_PREFIX = "history."

THRESHOLD_TAG = "decision_threshold"
SUITE_TAG = "validation_suite"
"""Version tags the training pipeline sets and serving needs: the business threshold and
where the version's GX feature suite is stored (a ``runs:/`` URI)."""
FEATURE_SUITE_PATH = "validation/feature_suite.json"
"""Where the GX suite that serving validates requests with is stored in the model's run."""
ZENML_VERSION_TAG = "zenml_model_version_id"
"""The id of the ZenML model version that mirrors a registry version: its training
artifacts (training frame, holdout set, evaluation, model card, validation report) are
linked to it."""


@dataclass(frozen=True)
class HistoryEvent:
    """One entry of the promotion history."""

    event: str  # "promoted", "approved" (passed, for a canary), "rejected",
    #             "manual_promote" or "rollback"
    version: str
    previous_champion: str | None
    reason: str
    timestamp: float = field(default_factory=time.time)

    @property
    def changes_champion(self) -> bool:
        return self.event in ("promoted", "manual_promote", "rollback")


def ensure_registered_model(client: MlflowClient, name: str = REGISTERED_MODEL_NAME) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Customer churn classifier (IBM Telco). Live version: @champion."
        )


def champion_version(
    client: MlflowClient, name: str = REGISTERED_MODEL_NAME
) -> ModelVersion | None:
    """The version holding the champion alias, or None before the first promotion."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException:
        return None


def record(client: MlflowClient, event: HistoryEvent, name: str = REGISTERED_MODEL_NAME) -> None:
    """Append an event to the history and tag the version with the decision."""
    key = f"{HISTORY_PREFIX}{time.time_ns()}"
    client.set_registered_model_tag(name, key, json.dumps(asdict(event)))
    client.set_model_version_tag(name, event.version, "gate.decision", event.event)
    client.set_model_version_tag(name, event.version, "gate.reason", event.reason[:4000])


def history(client: MlflowClient, name: str = REGISTERED_MODEL_NAME) -> list[HistoryEvent]:
    """All recorded events, oldest first."""
    return events_from_tags(client.get_registered_model(name).tags)


def events_from_tags(tags: Mapping[str, str]) -> list[HistoryEvent]:
    """The history events among a registered model's tags, oldest first."""
    keys = sorted((k for k in tags if k.startswith(HISTORY_PREFIX)),
                  key=lambda k: int(k[len(HISTORY_PREFIX):]))
    return [HistoryEvent(**json.loads(tags[k])) for k in keys]


def champion_lineage(events: list[HistoryEvent]) -> list[str]:
    """Replay the log: promotions push the new champion, rollbacks pop the current one."""
    lineage: list[str] = []
    for event in events:
        if event.event in ("promoted", "manual_promote"):
            lineage.append(event.version)
        elif event.event == "rollback" and lineage:
            lineage.pop()
    return lineage


def set_champion(
    client: MlflowClient, version: str, event: str, reason: str,
    name: str = REGISTERED_MODEL_NAME,
) -> HistoryEvent:
    """Move the champion alias to ``version`` and record why."""
    client.get_model_version(name, version)  # raises if the version does not exist
    current = champion_version(client, name)
    client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    recorded = HistoryEvent(event, version, str(current.version) if current else None, reason)
    record(client, recorded, name)
    return recorded


def promote(client: MlflowClient, version: str, reason: str = "promoted by hand") -> HistoryEvent:
    """``run.py model promote VERSION``: make a version the champion, bypassing the gate."""
    return set_champion(client, str(version), "manual_promote", reason)


def rollback(client: MlflowClient, name: str = REGISTERED_MODEL_NAME) -> HistoryEvent:
    """``run.py model rollback``: give the alias back to the previous champion."""
    lineage = champion_lineage(history(client, name))
    if len(lineage) < 2:
        raise RuntimeError("There is no earlier champion to roll back to.")
    current, previous = lineage[-1], lineage[-2]
    return set_champion(
        client, previous, "rollback", f"rolled back from version {current}", name
    )


def format_history(events: list[HistoryEvent]) -> str:
    """A table for the terminal."""
    if not events:
        return "No promotion decisions recorded yet."
    lines = [f"{'when (UTC)':<20} {'event':<15} {'version':>7} {'previous':>8}  reason"]
    for e in events:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.timestamp))
        lines.append(
            f"{when:<20} {e.event:<15} {e.version:>7} {e.previous_champion or '-':>8}  {e.reason}"
        )
    return "\n".join(lines)


def describe_version(client: MlflowClient, version: str) -> ServedModel:
    """A version as a deployment serves it: model URI, threshold and validation suite."""
    import mlflow

    tags = client.get_model_version(REGISTERED_MODEL_NAME, version).tags
    missing = [tag for tag in (THRESHOLD_TAG, SUITE_TAG) if tag not in tags]
    if missing:
        raise ValueError(f"{REGISTERED_MODEL_NAME} v{version} lacks the tags {missing}; "
                         "only versions registered by the training pipeline can be deployed.")
    return ServedModel(
        version=str(version),
        model_uri=f"models:/{REGISTERED_MODEL_NAME}/{version}",
        threshold=float(tags[THRESHOLD_TAG]),
        validation_suite=mlflow.artifacts.load_dict(tags[SUITE_TAG]),
    )


def registered_versions(client: MlflowClient, name: str = REGISTERED_MODEL_NAME) -> list[str]:
    """Every registered version, as strings."""
    return [str(v.version) for v in client.search_model_versions(f"name='{name}'")]
