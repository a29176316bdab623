"""`engram facts`, `engram profile` and `engram add --subject/--attribute/--expires-at/--ttl`: JSON
lines when piped, tables on a terminal (superseded facts struck through), errors on one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.entrypoints.test_cli import engram

from engramdb.cli.main import cli


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {"ENGRAM_DB": str(tmp_path / "cli.db"), "ENGRAM_EMBEDDER": "hash", "ENGRAM_FACTS": "1"}


def invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_facts_profile_and_slots(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    invoke(env, "add", "I live in Lisbon", "--user", "sam", "--timestamp", "2023-01-10")
    invoke(env, "add", "I moved to Berlin", "--user", "sam", "--timestamp", "2024-03-01")
    [tea] = lines(invoke(env, "add", "The user drinks tea", "--user", "sam", "--kind", "fact", "--subject", "user",
                         "--attribute", "drink", "--timestamp", "2023-05-01", "--expires-at", "2999-01-01"))
    assert (tea["subject"], tea["attribute"], str(tea["expires_at"])[:10]) == ("user", "drink", "2999-01-01")
    [brief] = lines(invoke(env, "add", "gate code 1234", "--user", "sam", "--ttl", "60"))
    assert brief["expires_at"] is not None

    now = lines(invoke(env, "facts", "--user", "sam"))
    assert sorted(str(f["content"]) for f in now) == ["The user drinks tea", "The user lives in Berlin"]
    every = lines(invoke(env, "facts", "--user", "sam", "--all", "--attribute", "home city"))
    assert [(f["content"], f["valid_to"] is not None, f["superseded_by"] is not None) for f in every] == [
        ("The user lives in Lisbon", True, True), ("The user lives in Berlin", False, False)]
    then = lines(invoke(env, "facts", "--user", "sam", "--valid-at", "2023-06-01"))
    assert sorted(str(f["content"]) for f in then) == ["The user drinks tea", "The user lives in Lisbon"]
    [profile] = lines(invoke(env, "profile", "--user", "sam"))
    assert profile["text"] == "[profile] The user drinks tea. The user lives in Berlin."
    [past] = lines(invoke(env, "profile", "--user", "sam", "--valid-at", "2023-06-01"))
    assert "Lisbon" in str(past["text"])

    monkeypatch.setattr("engramdb.cli.facts.want_json", lambda as_json: False)  # as on a terminal
    env = {**env, "COLUMNS": "200"}
    table = invoke(env, "facts", "--user", "sam", "--all")
    assert "valid from" in table and "superseded by" in table and "2023-01-10" in table and "Lisbon" in table
    shown = invoke(env, "profile", "--user", "sam")
    assert "home city" in shown and "Lisbon: 2023-01-10 → 2024-03-01" in shown and "Berlin: 2024-03-01 → now" in shown


def test_errors_are_one_line(env: dict[str, str]) -> None:
    invoke(env, "add", "I live in Lisbon", "--user", "sam")
    for args, needle in ((["facts"], "give --user"), (["profile"], "give --user"),
                         (["facts", "--user", "sam", "--valid-at", "soon"], "error"),
                         (["facts", "--user", "sam", "--all", "--as-of", "2024-01-01"], "exclusive"),
                         (["add", "x", "--user", "sam", "--ttl", "-1"], "--ttl")):
        done = engram(env, *args)
        assert done.returncode in (1, 2), (args, done.stderr)
        assert needle in done.stderr and len(done.stderr.strip().splitlines()) <= 2, (args, done.stderr)
