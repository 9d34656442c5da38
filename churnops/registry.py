"""The model registry: versions of ``churn-model``, the ``champion`` alias and its history.

Every change of the champion is an event in an append-only log kept as tags on the
registered model (``history.<ns timestamp>`` = JSON). The log is what ``--history`` prints
and what ``--rollback`` replays: promotions push a version, rollbacks pop one.
Aliases are used throughout; registry stages are deprecated in MLflow.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from churnops import CHAMPION_ALIAS, REGISTERED_MODEL_NAME

HISTORY_PREFIX = "history."


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
    tags = client.get_registered_model(name).tags
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
    """``run.py --promote VERSION``: make a version the champion, bypassing the gate."""
    return set_champion(client, str(version), "manual_promote", reason)


def rollback(client: MlflowClient, name: str = REGISTERED_MODEL_NAME) -> HistoryEvent:
    """``run.py --rollback``: give the alias back to the previous champion."""
    lineage = champion_lineage(history(client, name))
    if len(lineage) < 2:
        raise RuntimeError(
            "There is no earlier champion to roll back to. "
            "Use `python run.py --history` to see the promotions so far."
        )
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
