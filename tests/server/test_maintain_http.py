"""POST /v1/maintain: one maintenance pass over the tenant's database, through a real server.
Tenant-wide, so only keys without user / agent limits may run it; a dry run is a read."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.http_api import assert_envelope, issue
from tests.support.server import live_server


def test_maintain_needs_an_unrestricted_key_and_writes_unless_dry_run(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    admin, sam, read_only = issue(db)[1], issue(db, users=["sam"])[1], issue(db, read_only=True)[1]
    with live_server(db) as server:
        with server.client(admin) as http:
            brief = http.post("/v1/memories", json={"messages": "the gate code is 1234 today", "user_id": "sam",
                                                   "ttl": 0.2})
            assert brief.status_code == 201, brief.text
            gone = brief.json()["memories"][0]["id"]
            dry = http.post("/v1/maintain", json={"dry_run": True})
            assert dry.status_code == 200 and dry.json()["dry_run"] is True, dry.text
            assert set(dry.json()) >= {"at", "scanned", "archived", "erased", "complete"}
            assert_envelope(http.post("/v1/maintain", json={"dry_run": "maybe"}), 422)
            assert_envelope(http.post("/v1/maintain", json={"now": "2030-01-01"}), 422)
        with server.client(sam) as http:
            assert_envelope(http.post("/v1/maintain", json={"dry_run": True}), 403)
        with server.client(read_only) as http:
            assert http.post("/v1/maintain", json={"dry_run": True}).status_code == 200
            assert_envelope(http.post("/v1/maintain", json={}), 403)
        with server.client(admin) as http:
            time.sleep(0.5)
            done = http.post("/v1/maintain", json={})
            assert done.status_code == 200 and done.json()["dry_run"] is False, done.text
            assert gone in done.json()["erased"]
            assert_envelope(http.get(f"/v1/memories/{gone}", params={"user_id": "sam"}), 404)
