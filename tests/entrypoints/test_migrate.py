"""``engram migrate`` and opening by URL: migrations are applied once, in order, on either store,
also when several processes open a new database at the same time."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support.pg import PgServer
from tests.support.probe import Probe

from engramdb import Memory
from engramdb.cli.main import cli
from engramdb.core.errors import NotFoundError
from engramdb.registry import open_store
from engramdb.stores import pg_conn, sqlite_conn
from engramdb.stores.postgres import PostgresStore


def _files(folder: str) -> list[str]:
    return sorted(p.name for p in (Path(sqlite_conn.__file__).parent / "sql" / folder).glob("*.sql"))


@pytest.fixture(params=["sqlite", "postgres"])
def new_db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, list[str]]:
    """A database that has no schema yet, and the migration files its store applies."""
    if request.param == "sqlite":
        return str(tmp_path / "new.db"), _files("sqlite")
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database("new", empty=True)
    request.addfinalizer(lambda: server.drop_database(url))
    return url, [name for _, name, _ in pg_conn.migrations()]


def migrate(db: str) -> list[str]:
    result = CliRunner().invoke(cli, ["migrate", "--db", db, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    applied: list[str] = json.loads(line)["applied"]
    return applied


def test_migrate_applies_every_file_once_in_order(new_db: tuple[str, list[str]]) -> None:
    db, files = new_db
    assert migrate(db) == files
    assert migrate(db) == []
    result = CliRunner().invoke(cli, ["migrate", "--db", db, "--json"], catch_exceptions=False)
    assert "postgres@" not in json.loads(result.output)["db"]  # a URL's user and password are not printed
    with Memory(db, embedder="hash", background=False, create=False) as m:  # the schema is there
        m.add("after the migration", user_id="u")
        assert m.count(user_id="u") == 1


def test_concurrent_openers_of_a_new_postgres_database_migrate_it_once(pg_server: PgServer,
                                                                      request: pytest.FixtureRequest) -> None:
    url = pg_server.create_database("race", empty=True)
    request.addfinalizer(lambda: pg_server.drop_database(url))
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(PostgresStore(url))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in stores:
        store.close()
    assert errors == [] and len(stores) == 6
    versions = [r[0] for r in Probe(url).rows("SELECT version FROM engram_migrations ORDER BY version")]
    assert versions == [number for number, _, _ in pg_conn.migrations()]


def test_reads_do_not_create_a_postgres_schema(pg_server: PgServer, request: pytest.FixtureRequest) -> None:
    url = pg_server.create_database("bare", empty=True)
    request.addfinalizer(lambda: pg_server.drop_database(url))
    with pytest.raises(NotFoundError):
        open_store(url, must_exist=True)
    assert Probe(url).value("SELECT to_regclass('memories') IS NULL") is True
    with pytest.raises(NotFoundError):
        open_store(pg_server.url("no_such_database"))
    store = open_store(url)  # a write opens and creates it
    assert isinstance(store, PostgresStore)
    store.close()
