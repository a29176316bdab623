"""API keys in a small SQLite file of their own (``<db>.keys.db`` beside the default tenant's
database): random secrets shown once, stored as SHA-256 hashes (a 256-bit random secret needs
no slow hash), each bound to a tenant and optionally to users / agents and to read-only."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from engramdb.core.errors import NotFoundError, StoreError
from engramdb.core.grants import ApiKey, Grant
from engramdb.stores.keys_common import COLUMNS as _COLS
from engramdb.stores.keys_common import PREFIX, grant_of, key_from_row, new_key_row, plausible, secret_hash

__all__ = ["PREFIX", "KeyRing"]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL UNIQUE,
    name TEXT,
    tenant TEXT NOT NULL,
    users TEXT,            -- JSON list, or NULL for every user of the tenant
    agents TEXT,
    read_only INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


class KeyRing:
    """Create, list, revoke and verify API keys. Thread-safe; several processes may share the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the key file {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def create(self, tenant: str, *, users: list[str] | None = None, agents: list[str] | None = None,
               read_only: bool = False, name: str | None = None) -> tuple[ApiKey, str]:
        """A new key; returns it and its secret, which is not kept and cannot be shown again."""
        row, secret = new_key_row(tenant, users=users, agents=agents, read_only=read_only, name=name)
        with self._lock, self._tx():
            self._db.execute("INSERT INTO api_keys (id, secret_sha256, name, tenant, users, agents, read_only, "
                             "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        key_id = str(row[0])
        return self.get(key_id), secret

    def get(self, key_id: str) -> ApiKey:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no API key {key_id!r}")
        return key_from_row(row)

    def list(self, *, include_revoked: bool = True) -> list[ApiKey]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLS} FROM api_keys{where} ORDER BY created_at, id").fetchall()
        return [key_from_row(r) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        with self._lock, self._tx():
            cur = self._db.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                                   (datetime.now(UTC).isoformat(), key_id))
        if cur.rowcount == 0:
            self.get(key_id)  # NotFoundError when there is no such key; revoking twice is fine
        return self.get(key_id)

    def active(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL").fetchone()[0])

    def issued(self) -> int:
        """Keys ever created, revoked ones included."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM api_keys").fetchone()[0])

    def verify(self, secret: str) -> Grant | None:
        """The grant of a live key, or None for an unknown, malformed or revoked one."""
        if not plausible(secret):
            return None
        digest = secret_hash(secret)
        with self._lock:
            row = self._db.execute(f"SELECT {_COLS}, secret_sha256 FROM api_keys WHERE secret_sha256 = ?",
                                   (digest,)).fetchone()
        return grant_of(row, digest)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
