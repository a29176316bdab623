"""API keys in a small SQLite file of their own (``<db>.keys.db`` beside the default tenant's
database): random secrets shown once, stored as SHA-256 hashes (a 256-bit random secret needs
no slow hash), each bound to a tenant and optionally to users / agents and to read-only."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from engramdb.core.errors import NotFoundError, StoreError, ValidationError
from engramdb.core.grants import ApiKey, Grant, check_tenant

PREFIX = "engram_"
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


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _names(values: list[str] | None, what: str) -> str | None:
    if values is None:
        return None
    if not values or any(not isinstance(v, str) or not v.strip() or len(v) > 200 for v in values):
        raise ValidationError(f"{what}: give one or more non-empty names of at most 200 characters")
    return json.dumps(sorted(set(values)))


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
        check_tenant(tenant)
        if name is not None and (not name.strip() or len(name) > 200):
            raise ValidationError("a key's name must be 1-200 characters")
        key_id = secrets.token_hex(6)
        secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        now = datetime.now(UTC).isoformat()
        row = (key_id, _hash(secret), name, tenant, _names(users, "users"), _names(agents, "agents"),
               int(read_only), now)
        with self._lock, self._tx():
            self._db.execute("INSERT INTO api_keys (id, secret_sha256, name, tenant, users, agents, read_only, "
                             "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        return self.get(key_id), secret

    def get(self, key_id: str) -> ApiKey:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no API key {key_id!r}")
        return _key(row)

    def list(self, *, include_revoked: bool = True) -> list[ApiKey]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLS} FROM api_keys{where} ORDER BY created_at, id").fetchall()
        return [_key(r) for r in rows]

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
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        digest = _hash(secret)
        with self._lock:
            row = self._db.execute(f"SELECT {_COLS}, secret_sha256 FROM api_keys WHERE secret_sha256 = ?",
                                   (digest,)).fetchone()
        if row is None or not hmac.compare_digest(row[-1], digest) or row[7] is not None:
            return None
        return _key(row[:-1]).grant

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


_COLS = "id, name, tenant, users, agents, read_only, created_at, revoked_at"


def _key(row: tuple[object, ...]) -> ApiKey:
    key_id, name, tenant, users, agents, read_only, created, revoked = row
    grant = Grant(tenant=str(tenant), users=frozenset(json.loads(str(users))) if users is not None else None,
                  agents=frozenset(json.loads(str(agents))) if agents is not None else None,
                  read_only=bool(read_only), key_id=str(key_id))
    return ApiKey(id=str(key_id), name=str(name) if name is not None else None, grant=grant,
                  created_at=datetime.fromisoformat(str(created)),
                  revoked_at=datetime.fromisoformat(str(revoked)) if revoked is not None else None)
