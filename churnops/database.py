"""Engines for the project's own databases: the inference log and the deployment record.

Both are SQLAlchemy Core tables reached by URL: SQLite in the state folder by default,
PostgreSQL in production. Tables are created when missing; indexes added after a table was
first released are created by ``upgrade`` (the migration path: additive changes only).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError


def engine(url: str) -> Engine:
    """A pooled engine; on SQLite in WAL mode with ``synchronous=NORMAL`` (see
    ``churnops.inference_log`` for what that guarantees)."""
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=32)
    # Writers queue on SQLite's lock: give them time instead of failing with "locked".
    sqlite = create_engine(url, pool_size=8, max_overflow=32, connect_args={"timeout": 30})

    @event.listens_for(sqlite, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return sqlite


def upgrade(bound: Engine, metadata: MetaData) -> None:
    """Create missing tables, then any index an existing table lacks."""
    metadata.create_all(bound)
    for table in metadata.sorted_tables:
        for index in table.indexes:
            try:
                index.create(bound, checkfirst=True)
            except IntegrityError as error:
                raise RuntimeError(
                    f"Cannot add the unique index {index.name} to {table.name}: rows repeat "
                    f"{', '.join(c.name for c in index.columns)}. Keep one of each, then "
                    "start again.") from error


class Database:
    """The tables of ``metadata`` behind one connection pool, created or upgraded when
    opened; safe to use from many threads."""

    metadata: ClassVar[MetaData]

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine(url)
        upgrade(self.engine, self.metadata)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
