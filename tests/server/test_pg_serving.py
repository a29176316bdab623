"""`engram serve` over PostgreSQL: keys in the database's own table (shared by every server on
it), one schema per tenant, and the same fail-closed isolation as one SQLite file per tenant.
A real uvicorn on loopback against the real PostgreSQL of the test run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from tests.support.server import live_server

from engramdb.cli.main import cli
from engramdb.registry import open_keys, tenant_db
from engramdb.stores.pg_tenants import schema_for, with_search_path


@pytest.fixture
def pg_db(request: pytest.FixtureRequest) -> Iterator[str]:
    server: Any = request.getfixturevalue("pg_server")
    url: str = server.create_database(f"serve_{request.node.name[:30].lower()}")
    yield url
    server.drop_database(url)


def _count(url: str, schema: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}.memories").format(sql.Identifier(schema))).fetchone()
    return int(row[0]) if row else 0


def test_tenant_schemas_are_distinct_and_safe() -> None:
    assert schema_for("default") is None
    names = {schema_for(t) for t in ("acme", "acme.x", "acme_x", "acme-x", "a" * 64)}
    assert len(names) == 5 and all(n is not None and len(n) <= 63 for n in names)
    url = with_search_path("postgresql://u:p@127.0.0.1:5/db?sslmode=disable&options=-cstatement_timeout%3D5000",
                           "engram_t_acme_1")
    assert "sslmode=disable" in url and "statement_timeout" in url and "search_path%3Dengram_t_acme_1%2Cpublic" in url


def test_keys_live_in_the_database_and_the_cli_uses_them(pg_db: str) -> None:
    res = CliRunner().invoke(cli, ["keys", "create", "--db", pg_db, "--tenant", "acme", "--name", "ci"])
    assert res.exit_code == 0, res.output
    secret = res.stdout.strip().splitlines()[0]
    ring = open_keys(pg_db)
    (key,) = ring.list()
    assert key.grant.tenant == "acme" and key.name == "ci"
    assert ring.verify(secret) == key.grant and ring.verify(secret + "x") is None
    res = CliRunner().invoke(cli, ["keys", "revoke", key.id, "--db", pg_db])
    assert res.exit_code == 0 and ring.verify(secret) is None and ring.issued() == 1 and ring.active() == 0


def test_each_tenant_writes_to_its_own_schema_and_sees_only_it(pg_db: str) -> None:
    ring = open_keys(pg_db)
    _, acme = ring.create("acme")
    _, globex = ring.create("globex")
    _, default = ring.create("default")
    with live_server(pg_db, worker_threads=1) as srv:
        with srv.client(acme) as c:
            r = c.post("/v1/memories", json={"messages": "acme's launch code is tulip", "user_id": "u1"})
            assert r.status_code == 201, r.text
            report = c.post("/v1/flush", json={"timeout": 30, "user_id": "u1"}).json()
            assert report["remaining"] == 0 and report["failed"] == 0, report
            found = c.post("/v1/search", json={"query": "launch code", "user_id": "u1"}).json()
            assert [h["content"] for h in found["hits"]] == ["acme's launch code is tulip"]
        for other in (globex, default):
            with srv.client(other) as c:
                found = c.post("/v1/search", json={"query": "launch code tulip", "user_id": "u1"}).json()
                assert found["hits"] == []
                assert c.get("/v1/memories", params={"user_id": "u1"}).json()["memories"] == []
    acme_schema = schema_for("acme")
    assert acme_schema is not None and _count(pg_db, acme_schema) == 1
    assert _count(pg_db, "public") == 0
    globex_schema = schema_for("globex")
    assert globex_schema is not None and _count(pg_db, globex_schema) == 0
    assert tenant_db(pg_db, "acme") == with_search_path(pg_db, acme_schema)
