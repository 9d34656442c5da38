"""The deployment record: what is live, and the deployment history, as rows in a database.

Every stage reaches it by URL (``CHURNOPS_DEPLOYMENT_URL``; SQLite in the state folder on
the ``local`` stack, PostgreSQL on ``kubeflow``), so no stage reads a file another wrote:
the deployment pipeline publishes, the service watches, ``run.py deploy`` reads and writes.

Each change of the live deployment is a new *generation*, never an update in place. A
writer names the generation it read; of two writers that read the same one, the first wins
and the second gets ``StaleDeploymentError`` (optimistic concurrency on the primary key).

The continuous-training controller keeps its memory here too, one row per run of each
controller (``production``, or a simulation's own), with the same rule: two runs that read
the same state cannot both record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from churnops import database, paths
from churnops.deployment import DeploymentEvent, LiveDeployment

metadata = MetaData()

generations = Table(
    "live_deployment",
    metadata,
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("deployment", JSON, nullable=False),
)
events = Table(
    "deployment_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("event", JSON, nullable=False),
)
controller_runs = Table(
    "continuous_training_runs",
    metadata,
    Column("controller", String(100), primary_key=True),
    Column("run", Integer, primary_key=True, autoincrement=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("state", JSON, nullable=False),
    Column("summary", JSON, nullable=False),
)


@dataclass(frozen=True)
class Published:
    """A generation of the live deployment."""

    generation: int
    deployment: LiveDeployment


class StaleDeploymentError(RuntimeError):
    """The live deployment changed since it was read; read it again and retry."""


class DeploymentRecord(database.Database):
    """What is live and its history; opening it creates the missing tables."""

    metadata = metadata

    def __init__(self, url: str | None = None) -> None:
        super().__init__(url or paths.deployment_record_url())

    def generation(self) -> int:
        """The current generation, 0 before the first deployment; cheap enough to poll."""
        with self.engine.connect() as connection:
            return _generation(connection)

    def current(self) -> Published | None:
        """The live deployment, or None before the first one."""
        query = select(generations).order_by(generations.c.generation.desc()).limit(1)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return Published(row.generation, LiveDeployment.model_validate(row.deployment))

    def live(self) -> LiveDeployment | None:
        published = self.current()
        return None if published is None else published.deployment

    def publish(self, deployment: LiveDeployment, event: DeploymentEvent | None = None,
                read: int | None = None) -> Published:
        """Make ``deployment`` live (with its history ``event``, in the same transaction).

        ``read`` is the generation the change was based on; None means "whatever is live".
        """
        try:
            with self.engine.begin() as connection:
                current = _generation(connection)
                if read is not None and read != current:
                    raise StaleDeploymentError(_stale(read, current))
                now = datetime.now(UTC)
                connection.execute(insert(generations), {
                    "generation": current + 1, "ts": now,
                    "deployment": deployment.model_dump(mode="json")})
                if event is not None:
                    _append(connection, event)
        except IntegrityError as error:  # another writer took generation current + 1
            raise StaleDeploymentError(_stale(read, current + 1)) from error
        return Published(current + 1, deployment)

    def append(self, event: DeploymentEvent) -> None:
        """Add to the deployment history without changing what is live."""
        with self.engine.begin() as connection:
            _append(connection, event)

    def history(self) -> list[DeploymentEvent]:
        """All events, oldest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(events.c.event).order_by(events.c.id)).scalars()
            return [DeploymentEvent.model_validate(row) for row in rows]

    def loop_state(self, controller: str) -> dict | None:
        """A continuous-training controller's latest state, None before its first run."""
        query = (select(controller_runs.c.state).where(controller_runs.c.controller == controller)
                 .order_by(controller_runs.c.run.desc()).limit(1))
        with self.engine.connect() as connection:
            return connection.execute(query).scalar()

    def record_loop_run(self, controller: str, run: int, state: dict, summary: dict) -> None:
        """Save run ``run``'s state; ``StaleDeploymentError`` if that run was recorded."""
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(controller_runs), {
                    "controller": controller, "run": run, "ts": datetime.now(UTC),
                    "state": state, "summary": summary})
        except IntegrityError as error:
            raise StaleDeploymentError(
                f"Continuous-training run {run} of '{controller}' was already recorded: "
                "another run of the pipeline went first. Its decisions stand; this one's "
                "state is not saved."
            ) from error

    def latest_loop_run(self, controller: str) -> dict | None:
        """A controller's latest recorded run (run, ts and summary), None before its first."""
        query = (select(controller_runs.c.run, controller_runs.c.ts, controller_runs.c.summary)
                 .where(controller_runs.c.controller == controller)
                 .order_by(controller_runs.c.run.desc()).limit(1))
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return {"run": row.run, "ts": row.ts, **row.summary} if row else None

    def loop_runs(self, controller: str) -> list[dict]:
        """A controller's recorded runs (run, ts and summary), oldest first."""
        query = (select(controller_runs.c.run, controller_runs.c.ts, controller_runs.c.summary)
                 .where(controller_runs.c.controller == controller).order_by(controller_runs.c.run))
        with self.engine.connect() as connection:
            return [{"run": row.run, "ts": row.ts, **row.summary}
                    for row in connection.execute(query)]


def read_live(url: str | None = None) -> LiveDeployment | None:
    """What is live now, or None before the first deployment."""
    with DeploymentRecord(url) as record:
        return record.live()


def _generation(connection: Connection) -> int:
    return connection.execute(select(func.max(generations.c.generation))).scalar() or 0


def _append(connection: Connection, event: DeploymentEvent) -> None:
    connection.execute(insert(events), {"ts": event.at, "event": event.model_dump(mode="json")})


def _stale(read: int | None, current: int) -> str:
    based = f"generation {read}" if read is not None else "what was live"
    return (f"The live deployment changed while this change was made (it was based on "
            f"{based}; generation {current} is live now). Check `python run.py deploy "
            "status` and try again.")
