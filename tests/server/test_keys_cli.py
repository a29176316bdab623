"""``engram keys`` and the refusal of ``engram serve`` to expose an open server, driven as a user
would (click's runner for output, a real subprocess where the exit code and stderr matter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from engramdb.cli.main import cli
from engramdb.registry import keys_path
from engramdb.stores.sqlite_keys import KeyRing


def engram(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = [sys.executable, "-c", "from engramdb.cli.main import main; main()"]
    env = {**os.environ, "ENGRAM_DB": str(db), "ENGRAM_EMBEDDER": "hash"}
    return subprocess.run([*exe, *args], env=env, capture_output=True, text=True, timeout=60)


def invoke(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"ENGRAM_DB": str(db), "ENGRAM_EMBEDDER": "hash"})
    return result.exit_code, result.stdout, result.stderr


def test_create_prints_the_secret_once_and_list_never(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    code, out, err = invoke(db, "keys", "create", "--user", "sam", "--user", "ann", "--read-only", "--name", "ci")
    assert code == 0
    secret = out.strip()
    assert secret.startswith("engram_") and "\n" not in secret
    assert "not shown again" in err and secret not in err
    ring = KeyRing(keys_path(db))
    try:
        [key] = ring.list()
        grant = ring.verify(secret)
    finally:
        ring.close()
    assert grant is not None and grant.users == frozenset({"sam", "ann"}) and grant.read_only
    assert key.name == "ci" and key.grant.tenant == "default"

    code, out, _ = invoke(db, "keys", "create", "--tenant", "acme", "--agent", "bot", "--json")
    assert code == 0
    [created] = [json.loads(line) for line in out.splitlines()]
    assert created["tenant"] == "acme" and created["agents"] == ["bot"] and created["users"] is None
    assert created["secret"].startswith("engram_") and created["revoked_at"] is None

    code, out, _ = invoke(db, "keys", "list", "--json")
    assert code == 0
    listed = [json.loads(line) for line in out.splitlines()]
    assert [k["id"] for k in listed] == [key.id, created["id"]]
    assert all("secret" not in k for k in listed)
    assert secret not in out and created["secret"] not in out
    assert secret.split("_", 2)[2] not in out  # not even the random part
    code, table, _ = invoke(db, "keys", "list")
    assert code == 0 and key.id in table and secret not in table  # JSON lines when not a terminal


def test_revoke(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    _, out, _ = invoke(db, "keys", "create", "--json")
    [created] = [json.loads(line) for line in out.splitlines()]
    code, _, err = invoke(db, "keys", "revoke", created["id"])
    assert code == 0 and created["id"] in err
    _, out, _ = invoke(db, "keys", "list", "--json")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert listed["revoked_at"] is not None
    ring = KeyRing(keys_path(db))
    try:
        assert ring.verify(created["secret"]) is None and ring.active() == 0
    finally:
        ring.close()
    assert invoke(db, "keys", "revoke", created["id"])[0] == 0  # twice is fine
    proc = engram(db, "keys", "revoke", "nosuchkey")
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("tenant", ["../evil", "a/b", "Acme", ".hidden", "acme.", "con", "x" * 65, "a b"])
def test_tenant_names_are_checked(tmp_path: Path, tenant: str) -> None:
    db = tmp_path / "memory.db"
    proc = engram(db, "keys", "create", "--tenant", tenant)
    assert proc.returncode != 0 and proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert "tenant" in line and "Traceback" not in proc.stderr
    ring = KeyRing(keys_path(db))
    try:
        assert ring.list() == []
    finally:
        ring.close()
    assert not (tmp_path / "memory.tenants").exists()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])
def test_serve_refuses_a_public_address_without_keys(tmp_path: Path, host: str) -> None:
    proc = engram(tmp_path / "memory.db", "serve", "--host", host, "--port", "0")
    assert proc.returncode != 0 and proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert "without API keys" in line and "engram keys create" in line


def test_serve_refuses_when_every_key_is_revoked(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    _, out, _ = invoke(db, "keys", "create", "--json")
    invoke(db, "keys", "revoke", json.loads(out)["id"])
    proc = engram(db, "serve", "--host", "0.0.0.0", "--port", "0")
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
