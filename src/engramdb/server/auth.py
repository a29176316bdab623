"""Who is asking: the API key of a request, resolved to its grant (or refused)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Request

from engramdb.core.errors import AuthError
from engramdb.core.grants import DEFAULT_TENANT, Grant, KeyStore

OPEN_GRANT = Grant(tenant=DEFAULT_TENANT)
_CACHE_SECONDS = 1.0


@dataclass
class Gate:
    """Every request needs a live key as soon as one key exists, revoked or not (revoking every
    key locks the server, it does not open it to whoever reaches the port); with none ever
    created, the server is open to its own machine only (``engram serve`` refuses a
    non-loopback address then)."""

    keys: KeyStore
    _issued: int = 0
    _checked: float = field(default=-1e9)

    def keys_issued(self) -> int:
        now = time.monotonic()
        if now - self._checked > _CACHE_SECONDS:
            self._issued = self.keys.issued()
            self._checked = now
        return self._issued

    def grant(self, request: Request) -> Grant:
        secret = _secret(request)
        if secret is None:
            if self.keys_issued() == 0:
                return OPEN_GRANT
            raise AuthError("this server needs an API key: 'Authorization: Bearer <key>' (engram keys create)")
        grant = self.keys.verify(secret)
        if grant is None:
            raise AuthError("unknown or revoked API key")
        return grant


def _secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("use 'Authorization: Bearer <key>'")
        return value.strip()
    return request.headers.get("x-api-key") or None
