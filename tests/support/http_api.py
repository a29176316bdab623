"""Helpers of the HTTP API tests: issuing keys in a database's key file, and the one error
envelope every 4xx / 5xx answer must carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from engramdb.registry import keys_path
from engramdb.stores.sqlite_keys import KeyRing


def issue(db: Path, tenant: str = "default", **grant: Any) -> tuple[str, str]:
    """A new key of ``db``'s key file: (key id, secret)."""
    ring = KeyRing(keys_path(db))
    try:
        key, secret = ring.create(tenant, **grant)
    finally:
        ring.close()
    return key.id, secret


def revoke(db: Path, key_id: str) -> None:
    ring = KeyRing(keys_path(db))
    try:
        ring.revoke(key_id)
    finally:
        ring.close()


def assert_envelope(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """The response is an error with the envelope ``{"error": {"type", "message", ...}}``."""
    assert response.status_code >= 400, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["type"], str) and error["type"], body
    assert isinstance(error["message"], str) and error["message"], body
    return dict(error)
