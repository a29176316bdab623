"""API keys and what they grant: a tenant, optionally only some users / agents, optionally read-only.

A grant is checked against the scope a request names *before* the store is touched, and
the tenant picks the store itself (one database per tenant), so no request can read or
change another tenant's memories whatever it asks for (README "Serving").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from engramdb.core.errors import ForbiddenError, ValidationError

DEFAULT_TENANT = "default"
# lower case only: on a case-insensitive file system (macOS, Windows) "Acme" and "acme" would
# be one database file, so two tenants would share their memories; no trailing dot (Windows
# drops it) and no device names (con, nul, com1, ...)
_TENANT = re.compile(r"[a-z0-9](?:[a-z0-9_.-]{0,62}[a-z0-9_-])?")
_DEVICES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))})


def check_tenant(name: str) -> str:
    """Tenant names become file names: lower-case letters, digits, ``_ . -``, at most 64, starting
    with a letter or digit, not ending with a dot."""
    if (not isinstance(name, str) or not _TENANT.fullmatch(name) or ".." in name
            or name.split(".")[0] in _DEVICES):
        raise ValidationError(f"tenant {name!r}: use 1-64 lower-case letters, digits, '_', '.' or '-', starting "
                              "with a letter or digit")
    return name


@dataclass(frozen=True, slots=True)
class Grant:
    """What one request may do. ``users`` / ``agents`` of None: any of the tenant's."""

    tenant: str
    users: frozenset[str] | None = None
    agents: frozenset[str] | None = None
    read_only: bool = False
    key_id: str | None = None  # None: the server runs without keys (loopback only)

    @property
    def restricted(self) -> bool:
        return self.users is not None or self.agents is not None

    def check(self, user_id: str | None, agent_id: str | None, *, write: bool) -> None:
        """Raise ForbiddenError unless a request naming this user and agent is allowed. A key
        restricted to some users must name one of them (it cannot ask for 'every user')."""
        if write and self.read_only:
            raise ForbiddenError("this API key is read-only")
        for what, allowed, given in (("user_id", self.users, user_id), ("agent_id", self.agents, agent_id)):
            if allowed is None:
                continue
            if given is None:
                raise ForbiddenError(f"this API key is restricted to some {what}s: name one of them")
            if given not in allowed:
                raise ForbiddenError(f"this API key does not grant {what} {given!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "users": sorted(self.users) if self.users is not None else None,
                "agents": sorted(self.agents) if self.agents is not None else None,
                "read_only": self.read_only, "key_id": self.key_id}


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret (which is shown once, at creation, and kept hashed)."""

    id: str
    name: str | None
    grant: Grant
    created_at: datetime
    revoked_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        grant = self.grant.to_dict()
        del grant["key_id"]
        return {"id": self.id, "name": self.name, **grant, "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


class KeyStore(Protocol):
    """Where a database's API keys live (a SQLite key file, or a table of a PostgreSQL database)."""

    def create(self, tenant: str, *, users: list[str] | None = None, agents: list[str] | None = None,
               read_only: bool = False, name: str | None = None) -> tuple[ApiKey, str]:
        """A new key and its secret (shown once: only its hash is kept)."""
        ...

    def get(self, key_id: str) -> ApiKey: ...

    def list(self, *, include_revoked: bool = True) -> list[ApiKey]: ...

    def revoke(self, key_id: str) -> ApiKey: ...

    def active(self) -> int: ...

    def issued(self) -> int:
        """Keys ever created, revoked ones included."""
        ...

    def verify(self, secret: str) -> Grant | None:
        """The grant of a live key, or None for an unknown, malformed or revoked one."""
        ...

    def close(self) -> None: ...
