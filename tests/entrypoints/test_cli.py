"""The engram CLI, driven as a user would: real files, real subprocesses for exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from engramdb.cli.main import cli

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {"ENGRAM_DB": str(tmp_path / "cli.db"), "ENGRAM_EMBEDDER": "hash"}


def run(env: dict[str, str], *args: str, input: str | None = None) -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def engram(env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = [sys.executable, "-c", "from engramdb.cli.main import main; main()"]
    return subprocess.run([*exe, *args], env={**os.environ, **env}, input=input, capture_output=True,
                          text=True, timeout=60)


def test_add_search_show_history_delete(env: dict[str, str]) -> None:
    added = run(env, "add", "I prefer window seats on long flights", "--user", "sam", "--json")
    assert len(added) == 1 and added[0]["user_id"] == "sam" and added[0]["kind"] == "note"
    run(env, "add", "The cat is called Pimenta", "--user", "sam", "--kind", "fact")
    run(env, "add", "Someone else's secret", "--user", "eve")
    [result] = run(env, "search", "window seat", "--user", "sam", "--budget", "200", "--json")
    assert result["hits"][0]["content"].startswith("I prefer window seats")
    assert all(h["user_id"] == "sam" for h in result["hits"])
    assert result["context_tokens"] <= 200 and "window seats" in result["context"]
    [res_k] = run(env, "search", "cat", "--user", "sam", "-k", "1")
    assert len(res_k["hits"]) == 1
    mid = str(added[0]["id"])
    [shown] = run(env, "show", mid)
    assert shown["content"] == added[0]["content"]
    hist = run(env, "history", mid)
    assert [h["action"] for h in hist] == ["add"]
    assert run(env, "delete", mid) == [{"deleted": 1}]
    assert [r["content"] for r in run(env, "list", "--user", "sam")] == ["The cat is called Pimenta"]


def test_export_import_roundtrip(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "add", "alpha memory", "--user", "u", "--metadata", '{"topic": "a"}')
    run(env, "add", "beta memory", "--user", "u")
    dump = tmp_path / "dump.jsonl"
    result = CliRunner().invoke(cli, ["export", str(dump), "--user", "u"], env=env)
    assert result.exit_code == 0, result.output
    other = {**env, "ENGRAM_DB": str(tmp_path / "other.db")}
    [summary] = run(other, "import", str(dump))
    timings = {key: summary.pop(key) for key in ("written_s", "embedded_s")}
    assert all(isinstance(t, float) and t >= 0 for t in timings.values())
    assert summary == {"format": "export", "records": 2, "queued": 0,
                       "scopes": [{"user_id": "u", "agent_id": None, "memories": 2, "sessions": 0}]}
    assert sorted(r["content"] for r in run(other, "list", "--user", "u")) == ["alpha memory", "beta memory"]
    first = dump.read_text()
    again = tmp_path / "again.jsonl"
    CliRunner().invoke(cli, ["export", str(again), "--user", "u"], env=other)
    assert again.read_text() == first


def test_import_jsonl_chat_and_filters(env: dict[str, str], tmp_path: Path) -> None:
    chat = tmp_path / "chat.jsonl"
    lines = [
        {"role": "user", "content": "I moved to Lisbon", "timestamp": "2024-03-02T09:15:00Z", "session": "s1"},
        {"role": "assistant", "content": "Welcome to Lisbon!", "timestamp": "2024-03-02T09:16:00Z",
         "session": "s1"},
        {"role": "user", "content": "I adopted a cat", "timestamp": "2024-06-21T08:00:00Z", "session": "s2"},
    ]
    chat.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    [summary] = run(env, "import", str(chat), "--user", "sam")
    assert summary["records"] == 3 and summary["format"] == "jsonl"
    s2 = run(env, "list", "--user", "sam", "--session", "s2")
    assert [r["content"] for r in s2] == ["I adopted a cat"]
    assert s2[0]["event_time"].startswith("2024-06-21")
    by_role = run(env, "list", "--user", "sam", "--filter", '{"role": "assistant"}')
    assert [r["content"] for r in by_role] == ["Welcome to Lisbon!"]


def test_malformed_import_reports_file_and_line_and_writes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"role": "user", "content": "fine", "session": "s"}\n{"role": "user", "content": \n')
    proc = engram(env, "import", str(bad), "--user", "u")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and f"{bad}:2:" in proc.stderr
    assert engram(env, "list", "--user", "u").stdout == ""


def test_errors_are_one_line_and_nonzero(env: dict[str, str]) -> None:
    proc = engram(env, "add", "   ", "--user", "u")
    assert proc.returncode == 1 and proc.stderr.startswith("engram: error:") and proc.stderr.count("\n") == 1
    proc = engram(env, "add", "text without scope")
    assert proc.returncode == 1 and "scope" in proc.stderr
    proc = engram(env, "show", "NOPE")
    assert proc.returncode == 1 and "no memory" in proc.stderr
    proc = engram(env, "search", '"AND OR (', "--user", "u")
    assert proc.returncode == 0, proc.stderr
    proc = engram(env, "search", "x", "--user", "u", "-k", "0")
    assert proc.returncode == 2


def test_invalid_utf8_on_stdin(env: dict[str, str]) -> None:
    exe = [sys.executable, "-c", "from engramdb.cli.main import main; main()", "add", "-", "--user", "u"]
    proc = subprocess.run(exe, env={**os.environ, **env}, input=b"\xff\xfe bad", capture_output=True, timeout=60)
    assert proc.returncode == 1 and b"UTF-8" in proc.stderr


@pytest.mark.skipif(not (SHARED / "locomo" / "locomo_dev.json").is_file(), reason="../shared/data is absent")
def test_import_locomo_and_longmemeval(env: dict[str, str]) -> None:
    [summary] = run(env, "import", str(SHARED / "locomo" / "locomo_dev.json"), "--limit", "2")
    assert summary["format"] == "locomo" and summary["sessions"] == 2 and summary["records"] > 10
    rows = run(env, "list", "--user", "conv-26", "--limit", "500")
    assert rows and all(r["metadata"]["dia_id"].startswith("D") for r in rows)
    assert rows[0]["event_time"].startswith("2023-05-08")
    [lme] = run(env, "import", str(SHARED / "longmemeval" / "longmemeval_s_sample.json.gz"), "--limit", "3")
    assert lme["format"] == "longmemeval" and lme["sessions"] == 3


def test_demo_runs_on_bundled_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ../shared/data from here: the bundled sample is used
    env = {"ENGRAM_EMBEDDER": "hash"}
    result = CliRunner().invoke(cli, ["demo", "--db", str(tmp_path / "d.db"), "--budget", "120"], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "bundled sample" in result.output and "What is Sam allergic to?" in result.output
    assert "peanut" in result.output


def test_reindex_reports_how_many_memories_it_set(env: dict[str, str]) -> None:
    run(env, "add", "We went camping last week. It rained every single day of it.", "--user", "sam")
    run(env, "add", "Unrelated memory of another user.", "--user", "eve")
    assert run(env, "reindex", "--user", "sam", "--json") == [{"reindexed": 1}]
    bad = engram(env, "reindex")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
