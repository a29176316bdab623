"""API keys in the PostgreSQL database itself (table ``engram_api_keys`` of the default tenant's
schema), so every server and host serving that database sees the same keys. Same model as the
SQLite key file (keys_common.py): random secrets shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any

import psycopg

from engramdb.core.errors import NotFoundError
from engramdb.core.grants import ApiKey, Grant
from engramdb.stores.keys_common import COLUMNS, grant_of, key_from_row, new_key_row, plausible, secret_hash
from engramdb.stores.pg_conn import safe_url, translate

_SCHEMA = """
CREATE TABLE IF NOT EXISTS engram_api_keys (
    id text PRIMARY KEY,
    secret_sha256 text NOT NULL UNIQUE,
    name text,
    tenant text NOT NULL,
    users text,
    agents text,
    read_only integer NOT NULL DEFAULT 0,
    created_at text NOT NULL,
    revoked_at text
)"""


class PgKeyRing:
    """Create, list, revoke and verify API keys in a PostgreSQL database (one short connection
    per call: keys are read once per request at most and cached by the server's gate)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._run(_SCHEMA, ())

    def _run(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn, conn.cursor() as cur:
                cur.execute(statement, params or None)
                if cur.description is None:
                    return [(cur.rowcount,)]
                return list(cur.fetchall())
        except psycopg.Error as exc:
            raise translate(exc, f"API keys at {safe_url(self.url)}") from exc

    def create(self, tenant: str, *, users: list[str] | None = None, agents: list[str] | None = None,
               read_only: bool = False, name: str | None = None) -> tuple[ApiKey, str]:
        row, secret = new_key_row(tenant, users=users, agents=agents, read_only=read_only, name=name)
        self._run("INSERT INTO engram_api_keys (id, secret_sha256, name, tenant, users, agents, read_only, "
                  "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", row)
        return self.get(str(row[0])), secret

    def get(self, key_id: str) -> ApiKey:
        found = self._run(f"SELECT {COLUMNS} FROM engram_api_keys WHERE id = %s", (key_id,))
        if not found:
            raise NotFoundError(f"no API key {key_id!r}")
        return key_from_row(found[0])

    def list(self, *, include_revoked: bool = True) -> builtins.list[ApiKey]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        return [key_from_row(r) for r in self._run(f"SELECT {COLUMNS} FROM engram_api_keys{where} "
                                                   "ORDER BY created_at, id", ())]

    def revoke(self, key_id: str) -> ApiKey:
        changed = self._run("UPDATE engram_api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
                            (datetime.now(UTC).isoformat(), key_id))
        if not changed[0][0]:
            self.get(key_id)  # NotFoundError when there is no such key; revoking twice is fine
        return self.get(key_id)

    def active(self) -> int:
        return int(self._run("SELECT count(*) FROM engram_api_keys WHERE revoked_at IS NULL", ())[0][0])

    def issued(self) -> int:
        return int(self._run("SELECT count(*) FROM engram_api_keys", ())[0][0])

    def verify(self, secret: str) -> Grant | None:
        if not plausible(secret):
            return None
        digest = secret_hash(secret)
        found = self._run(f"SELECT {COLUMNS}, secret_sha256 FROM engram_api_keys WHERE secret_sha256 = %s",
                          (digest,))
        return grant_of(found[0] if found else None, digest)

    def close(self) -> None:
        pass  # no connection is held between calls
