"""pytest fixtures of the real PostgreSQL (tests/support/pg.py), imported by tests/conftest.py.

``pg_server`` (session): the one server of the run, with the migrated template database;
``pg_url`` (session): its maintenance database's URL; ``pg_store(request, name)``: a
PostgresStore on a fresh database, dropped when the requesting fixture ends.

When the server cannot start, PostgreSQL tests skip, or fail with ENGRAM_REQUIRE_PG=1 (CI).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.pg import PgServer

from engramdb.core.ports import Store

_failure: list[str] = []
_running: list[PgServer] = []


def pg_dump(url: str) -> bytes:
    """Every row of a test database (pg_dump), for tests that look for traces of erased data."""
    return _running[0].dump(url)


def _unavailable(reason: str) -> None:
    if os.environ.get("ENGRAM_REQUIRE_PG") == "1":
        pytest.fail(f"PostgreSQL is required (ENGRAM_REQUIRE_PG=1) but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    if _failure:
        _unavailable(_failure[0])
    try:
        server = PgServer()
    except (RuntimeError, KeyError, ImportError) as exc:
        _failure.append(str(exc))
        _unavailable(str(exc))
    try:
        server.start()
        server.make_template()
    except Exception as exc:  # a test fixture's boundary: any failure to start is reported once
        server.stop()
        _failure.append(f"{type(exc).__name__}: {exc}")
        _unavailable(_failure[0])
    _running.append(server)
    yield server
    _running.remove(server)
    server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> str:
    return pg_server.url()


_DATABASES = pytest.StashKey[dict[str, str]]()


def pg_database(request: pytest.FixtureRequest, name: str) -> str:
    """The URL of a fresh database for this test; the same ``name`` within a test is the same one."""
    server: PgServer = request.getfixturevalue("pg_server")
    made = request.node.stash.setdefault(_DATABASES, {})
    if name not in made:
        url = made[name] = server.create_database(name)
        request.addfinalizer(lambda: server.drop_database(url))
    return made[name]


DbFactory = Callable[..., "str | Path"]


@pytest.fixture(params=["sqlite", "postgres"])
def db_factory(request: pytest.FixtureRequest) -> DbFactory:
    """Makes databases of each store for ``Memory(...)``: ``db_factory("a")`` is a SQLite path in
    tmp_path or a PostgreSQL URL."""
    if request.param == "postgres":
        return lambda name="db": pg_database(request, name)
    return lambda name="db": request.getfixturevalue("tmp_path") / f"{name}.db"


def pg_store(request: pytest.FixtureRequest, name: str) -> Store:
    """A PostgresStore on a database of its own (STORE_FACTORIES["postgres"]); the same ``name``
    within a test is the same database (as the same file name is for SQLite)."""
    from engramdb.stores.postgres import PostgresStore

    return PostgresStore(pg_database(request, name))

