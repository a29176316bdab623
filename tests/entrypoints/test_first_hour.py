"""The first hour of a new user, through real subprocesses: finding the scopes an import wrote,
mistyped database paths, a database embedded with another model, demo leftovers, piped progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engramdb import Memory, NotFoundError

ENGRAM = [sys.executable, "-c", "from engramdb.cli.main import main; main()"]


def engram(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "ENGRAM_EMBEDDER": "hash", **(env or {})}
    full.pop("ENGRAM_DB", None) if "ENGRAM_DB" not in (env or {}) else None
    return subprocess.run([*ENGRAM, *args], env=full, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def ok(done: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def chat_file(path: Path, sessions: int, turns: int, user: str | None = None) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for s in range(sessions):
            for t in range(turns):
                line = {"role": "user" if t % 2 == 0 else "assistant", "content": f"session {s} turn {t} about tea",
                        "timestamp": f"2024-05-{1 + s % 28:02d}T10:{t:02d}:00Z", "session": f"s{s}"}
                if user:
                    line["user"] = user
                fh.write(json.dumps(line) + "\n")
    return path


# ---- scopes ------------------------------------------------------------------------------


def test_memory_scopes_counts_current_memories(mem: Memory) -> None:
    mem.add(["a", "b", "c"], user_id="sam", session_id="s1")
    mem.add(["d"], user_id="sam", session_id="s10", timestamp="2024-01-02")
    mem.add(["a2"], user_id="sam", session_id="s2", timestamp="2024-01-01")
    [gone] = mem.add("e", user_id="sam", agent_id="travel")
    mem.add("f", user_id="eve")
    mem.delete(gone.id)
    old = mem.add("g", user_id="eve")[0]
    mem.supersede(old.id, "g2")
    rows = [(s.user_id, s.agent_id, s.memories, s.sessions) for s in mem.scopes()]
    assert rows == [("eve", None, 2, 0), ("sam", None, 5, 3)]
    by_session = [(s.user_id, s.session_id, s.memories) for s in mem.scopes(user_id="sam", by_session=True)]
    assert by_session == [("sam", "s2", 1), ("sam", "s10", 1), ("sam", "s1", 3)]  # by first event time


def test_import_reports_its_scopes_and_scopes_lists_them(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    path = tmp_path / "chat.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for user, session in (("ana", "a1"), ("ana", "a2"), ("bo", "b1")):
            fh.write(json.dumps({"role": "user", "content": f"{user} says hi", "session": session,
                                 "user": user}) + "\n")
    [summary] = ok(engram("import", str(path), "--db", db))
    assert [(s["user_id"], s["memories"], s["sessions"]) for s in summary["scopes"]] == [("ana", 2, 2), ("bo", 1, 1)]
    listed = ok(engram("scopes", "--db", db))
    assert [(s["user_id"], s["memories"], s["sessions"]) for s in listed] == [("ana", 2, 2), ("bo", 1, 1)]
    per_session = ok(engram("scopes", "--db", db, "--user", "ana", "--sessions"))
    assert [s["session_id"] for s in per_session] == ["a1", "a2"]


def test_import_text_summary_names_the_scopes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engramdb.cli.importing import print_summary

    print_summary({"format": "locomo", "records": 5,
                   "scopes": [{"user_id": "conv-26", "agent_id": None, "memories": 5, "sessions": 2}]})
    out = capsys.readouterr().out
    assert "--user conv-26: 5 memories, 2 sessions" in out and "engram scopes" in out
    assert "engram search QUESTION --user conv-26" in out
    many = [{"user_id": f"q{i:03d}", "agent_id": None, "memories": 1, "sessions": 1} for i in range(150)]
    print_summary({"format": "longmemeval", "records": 150, "scopes": many})
    out = capsys.readouterr().out
    assert "into 150 scopes" in out and "q009" in out and "q010" not in out and "and 140 more" in out


def test_search_without_scope_points_at_scopes(tmp_path: Path) -> None:
    db = str(tmp_path / "n.db")
    ok(engram("add", "hello", "--user", "u", "--db", db))
    for command in (["search", "hello"], ["list"]):
        done = engram(*command, "--db", db)
        assert done.returncode != 0
        assert "engram scopes" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


# ---- a mistyped --db ------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["search", "hello", "--user", "u"], ["list", "--user", "u"], ["show", "01J0000000000000000000000"],
    ["history", "01J0000000000000000000000"], ["export", "-"], ["scopes"], ["reindex", "--user", "u"],
])
def test_read_of_a_missing_database_is_an_error(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "typo.db"
    done = engram(*command, "--db", str(db))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"engram: error: no database at {db}"]
    assert not db.exists() and not list(tmp_path.iterdir())


def test_only_writes_create_the_database(tmp_path: Path) -> None:
    db = tmp_path / "new" / "fresh.db"
    assert engram("list", "--user", "u", "--db", str(db)).returncode == 1 and not db.exists()
    ok(engram("add", "hello", "--user", "u", "--db", str(db)))
    assert [r["content"] for r in ok(engram("list", "--user", "u", "--db", str(db)))] == ["hello"]
    imported = tmp_path / "other.db"
    ok(engram("import", str(chat_file(tmp_path / "c.jsonl", 1, 2, user="u")), "--db", str(imported)))
    assert imported.is_file()


def test_memory_create_false(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no database at"):
        Memory(tmp_path / "missing.db", create=False, background=False)
    assert not (tmp_path / "missing.db").exists()
    Memory(tmp_path / "made.db", background=False).close()
    Memory(tmp_path / "made.db", create=False, background=False).close()


# ---- another embedder ---------------------------------------------------------------------


def test_search_with_another_embedder_warns(tmp_path: Path) -> None:
    with Memory(tmp_path / "e.db", embedder="hash:64", background=False) as mem:
        mem.add("I adopted a cat named Pimenta", user_id="sam")
        assert mem.search("cat", user_id="sam").warnings == ()
    with Memory(tmp_path / "e.db", embedder="hash:32", background=False) as mem:
        result = mem.search("cat", user_id="sam")
        assert result.hits  # keyword lists still answer
        [warning] = result.warnings
        assert "hash-64" in warning and "hash-32" in warning and "engram reindex" in warning
        assert result.to_dict()["warnings"] == [warning]
        mem.reindex(user_id="sam")
        assert mem.search("cat", user_id="sam").warnings == ()


def test_cli_prints_the_embedder_warning_on_stderr(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    ok(engram("add", "I adopted a cat named Pimenta", "--user", "sam", "--db", db, env={"ENGRAM_EMBEDDER": "hash:64"}))
    done = engram("search", "cat", "--user", "sam", "--db", db, env={"ENGRAM_EMBEDDER": "hash:48"})
    [result] = ok(done)
    assert result["hits"] and "engram: warning:" in done.stderr and "engram reindex" in done.stderr
    same = engram("search", "cat", "--user", "sam", "--db", db, env={"ENGRAM_EMBEDDER": "hash:64"})
    assert same.returncode == 0 and same.stderr == ""


# ---- demo and long imports ------------------------------------------------------------------


def test_demo_leaves_nothing_in_the_temp_dir(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    done = engram("demo", env={"TMPDIR": str(tmp)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "peanut" in done.stdout and "removed" in done.stdout
    # (tiktoken keeps its data-gym-cache there; that is not the demo's)
    assert list(tmp.glob("engram-demo-*")) == [] and list(tmp.rglob("*.db*")) == []
    kept = tmp_path / "kept.db"
    done = engram("demo", "--db", str(kept), env={"TMPDIR": str(tmp)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert kept.is_file() and str(kept) in done.stdout


def test_piped_import_prints_progress_lines(tmp_path: Path) -> None:
    path = chat_file(tmp_path / "long.jsonl", sessions=40, turns=5, user="u")
    done = engram("import", str(path), "--db", str(tmp_path / "p.db"))
    [summary] = ok(done)
    assert summary["records"] == 200
    lines = done.stderr.strip().splitlines()
    assert len(lines) >= 5 and all(line.startswith("imported ") and line.endswith("/200 turns") for line in lines)
    assert lines[-1] == "imported 200/200 turns"


def test_progress_lines_also_come_with_time() -> None:
    from engramdb.cli.importing import progress_lines

    said: list[str] = []
    clock = iter([0.0, 1.0, 7.0, 8.0, 20.0]).__next__
    on_written = progress_lines(1000, said.append, clock=clock)
    from engramdb.formats.base import Batch

    for _ in range(4):
        on_written(Batch([{"content": "x"}]), None)  # 1 of 1000 each: far below a tenth
    assert said == ["imported 2/1000 turns", "imported 4/1000 turns"]


# ---- the two times on the command line ------------------------------------------------------


def test_cli_valid_at_and_as_of(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from engramdb.cli.main import cli

    env = {"ENGRAM_DB": str(tmp_path / "t.db"), "ENGRAM_EMBEDDER": "hash"}

    def run(*args: str) -> list[dict[str, object]]:
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    [cat] = run("add", "I adopted a cat named Pimenta", "--user", "sam", "--timestamp", "2024-06-21")
    run("add", "Pimenta had three kittens", "--user", "sam", "--timestamp", "2024-08-02")
    [result] = run("search", "cat", "--user", "sam", "--valid-at", "2024-07-01")
    assert [h["content"] for h in result["hits"]] == ["I adopted a cat named Pimenta"]
    listed = run("list", "--user", "sam", "--valid-at", "2024-07-01")
    assert [r["content"] for r in listed] == ["I adopted a cat named Pimenta"]
    then = str(cat["updated_at"])
    assert [r["content"] for r in run("list", "--user", "sam", "--as-of", then)] == ["I adopted a cat named Pimenta"]
    [past] = run("search", "kittens", "--user", "sam", "--as-of", then)
    assert not any("kittens" in str(h["content"]) for h in past["hits"])
