"""What both API key stores share: how a secret is made and hashed, how a row reads back as an
:class:`ApiKey`, and the checks on a new key. The SQLite key file (sqlite_keys.py) and the
PostgreSQL key table (pg_keys.py) differ only in SQL dialect and locking."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime

from engramdb.core.errors import ValidationError
from engramdb.core.grants import ApiKey, Grant, check_tenant

PREFIX = "engram_"
COLUMNS = "id, name, tenant, users, agents, read_only, created_at, revoked_at"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _names(values: list[str] | None, what: str) -> str | None:
    if values is None:
        return None
    if not values or any(not isinstance(v, str) or not v.strip() or len(v) > 200 for v in values):
        raise ValidationError(f"{what}: give one or more non-empty names of at most 200 characters")
    return json.dumps(sorted(set(values)))


def new_key_row(tenant: str, *, users: list[str] | None, agents: list[str] | None, read_only: bool,
                name: str | None) -> tuple[tuple[object, ...], str]:
    """(the row to insert: id, secret hash, name, tenant, users, agents, read_only, created_at;
    the secret, shown once and never stored)."""
    check_tenant(tenant)
    if name is not None and (not name.strip() or len(name) > 200):
        raise ValidationError("a key's name must be 1-200 characters")
    key_id = secrets.token_hex(6)
    secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = (key_id, secret_hash(secret), name, tenant, _names(users, "users"), _names(agents, "agents"),
           int(read_only), datetime.now(UTC).isoformat())
    return row, secret


def plausible(secret: str) -> bool:
    """Whether ``secret`` is worth a lookup (any other string is an unknown key)."""
    return secret.startswith(PREFIX) and len(secret) <= 200


def grant_of(row: tuple[object, ...] | None, digest: str) -> Grant | None:
    """The grant of a looked-up row (``COLUMNS`` + secret hash), or None for no row or a revoked key."""
    if row is None or not hmac.compare_digest(str(row[-1]), digest) or row[7] is not None:
        return None
    return key_from_row(row[:-1]).grant


def key_from_row(row: tuple[object, ...]) -> ApiKey:
    key_id, name, tenant, users, agents, read_only, created, revoked = row
    grant = Grant(tenant=str(tenant), users=frozenset(json.loads(str(users))) if users is not None else None,
                  agents=frozenset(json.loads(str(agents))) if agents is not None else None,
                  read_only=bool(read_only), key_id=str(key_id))
    return ApiKey(id=str(key_id), name=str(name) if name is not None else None, grant=grant,
                  created_at=datetime.fromisoformat(str(created)),
                  revoked_at=datetime.fromisoformat(str(revoked)) if revoked is not None else None)
