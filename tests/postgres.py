"""Throwaway databases on the real PostgreSQL at 127.0.0.1:5432, for production-backend tests.

Each test module gets a database of its own, created here and dropped afterwards, so two test
runs (or a developer's data) never share tables.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.serving_fixtures import require_service

HOST, PORT = "127.0.0.1", 5432


def _admin_user() -> str:
    """The first of ``postgres`` and the current user that can log in."""
    errors = []
    for user in dict.fromkeys(["postgres", getpass.getuser()]):
        try:
            with psycopg.connect(host=HOST, port=PORT, user=user, dbname="postgres",
                                 connect_timeout=5):
                return user
        except psycopg.Error as error:
            errors.append(f"{user}: {error}")
    pytest.fail("PostgreSQL is up but refuses every user: " + "; ".join(errors))


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new, empty database named ``<prefix>_<random>``; yields its SQLAlchemy URL.

    Skips when PostgreSQL is unreachable (fails with ``CHURNOPS_REQUIRE_SERVICES=1``). The
    database is dropped on exit, open connections or not.
    """
    require_service("PostgreSQL", HOST, PORT)
    user = _admin_user()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=HOST, port=PORT, user=user, dbname="postgres",
                         autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://{user}@{HOST}:{PORT}/{name}"
    finally:
        with psycopg.connect(host=HOST, port=PORT, user=user, dbname="postgres",
                             autocommit=True) as admin:
            # FORCE (PostgreSQL 13+) ends the connections pools may still hold.
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def database_url(backend: str, folder: Path, prefix: str) -> Iterator[str]:
    """A new, empty database: a SQLite file in ``folder``, or one on the real PostgreSQL."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'{prefix}.db'}"
        return
    with fresh_database(prefix) as url:
        yield url
