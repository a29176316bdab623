"""Issue 9 §3: every CLI error is one line on stderr and a non-zero exit (real subprocesses)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

EXE = [sys.executable, "-c", "from engramdb.cli.main import main; main()"]


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    environ = {**os.environ, "ENGRAM_DB": str(tmp_path / "cli.db"), "ENGRAM_EMBEDDER": "hash"}
    environ.pop("ENGRAM_DEBUG", None)
    # a database that exists, so reads fail for the reason under test only
    subprocess.run([*EXE, "add", "hello there", "--user", "c"], env=environ, capture_output=True, check=True)
    return environ


def engram(env: dict[str, str], *args: str | bytes, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*EXE, *args], env=env, input=stdin, capture_output=True, timeout=60)


def one_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert err.count("\n") == 1 and err.startswith("engram: error: "), err
    assert "Traceback" not in err and "Usage:" not in err
    return err


@pytest.mark.parametrize("args", [
    ("search",),  # missing argument
    ("search", "x", "--bogus"),  # unknown option
    ("lsit",),  # unknown command
    ("list", "--limit", "abc"),  # bad option value
    ("search", "x", "--user", "c", "-k", "0"),  # out of range
])
def test_usage_errors_are_one_line_with_a_hint_and_exit_2(env: dict[str, str], args: tuple[str, ...]) -> None:
    proc = engram(env, *args)
    assert proc.returncode == 2
    err = one_line(proc)
    command = "engram" if args[0] == "lsit" else f"engram {args[0]}"
    assert f"(try '{command} --help')" in err


@pytest.mark.parametrize("args", [
    (b"search", b"abc\xff", b"--user", b"c"),  # non-UTF-8 argv: a surrogate-escaped query
    (b"add", b"x", b"--user", b"c", b"--timestamp", b"0001-01-01T00:00:00+05:00"),
    (b"search", b"x", b"--user", b"c", b"--as-of", b"9999-12-31T23:59:59-05:00"),
    (b"list", b"--user", b"c", b"--limit", b"9223372036854775808"),
    (b"list", b"--user", b"c", b"--filter", b'{"n": {"$gt": 18446744073709551616}}'),
    (b"add", b"x", b"--user", b"c", b"--metadata", b'{"a": ' * 5000 + b"1" + b"}" * 5000),
    (b"list", b"--user", b"c", b"--filter", b'{"$and": [' * 40 + b'{"a": 1}' + b"]}" * 40),
])
def test_bad_input_is_one_line_and_exit_1(env: dict[str, str], args: tuple[bytes, ...]) -> None:
    proc = engram(env, *args)
    assert proc.returncode in (1, 2), proc.stderr
    one_line(proc)
    listed = engram(env, "list", "--user", "c", "--json")
    assert [json.loads(line)["content"] for line in listed.stdout.splitlines()] == ["hello there"]


def test_non_utf8_stdin_names_the_byte(env: dict[str, str]) -> None:
    proc = engram(env, "add", "-", "--user", "c", stdin=b"caf\xe9 au lait")
    assert proc.returncode == 1
    assert "not valid UTF-8 (byte 3)" in one_line(proc)


def test_oversized_import_line_names_file_and_line(env: dict[str, str], tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    assert engram(env, "export", str(dump), "--user", "c").returncode == 0
    lines = dump.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record.update(id="01HZZZZZZZZZZZZZZZZZZZZZZZ", content="x" * 3_000_000)
    dump.write_text("\n".join([lines[0], json.dumps(record), *lines[1:]]) + "\n", encoding="utf-8")
    fresh = {**env, "ENGRAM_DB": str(tmp_path / "fresh.db")}
    proc = engram(fresh, "import", str(dump))
    assert proc.returncode == 1
    assert f"{dump}:2:" in one_line(proc)
    with sqlite3.connect(tmp_path / "fresh.db") as db:  # nothing of the file was written
        assert db.execute("SELECT count(*) FROM memories").fetchone()[0] == 0


def test_deep_json_in_a_chat_import_names_file_and_line(env: dict[str, str], tmp_path: Path) -> None:
    chat = tmp_path / "chat.jsonl"
    deep = '{"content": "x", "metadata": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    chat.write_text('{"content": "fine", "session": "s"}\n' + deep + "\n", encoding="utf-8")
    proc = engram(env, "import", str(chat), "--user", "c")
    assert proc.returncode == 1
    assert f"{chat}:2:" in one_line(proc)
