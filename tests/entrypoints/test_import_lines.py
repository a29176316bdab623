"""`engram import` and Memory.import_jsonl read JSON lines alike: a line ends at "\\n" only.

``str.splitlines()`` also breaks at U+2028, U+2029, U+0085 (which JSON keeps raw
inside strings) and at \\x0b, \\x0c, \\x1c-\\x1e; content holding any of them
must come back exactly, through the real ``engram`` executable.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engramdb import Memory
from engramdb.core.errors import ImportFormatError, ValidationError
from engramdb.core.jsonl import numbered_lines, split_lines

ENGRAM = Path(sys.executable).with_name("engram")
ODD = ["line\u2028separator", "para\u2029graph", "next\u0085line", "carriage\rreturn",
       "vertical\x0btab", "form\x0cfeed", "file\x1cgroup\x1drecord\x1eunit", "crlf\r\nend", "plain one"]


def engram(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENGRAM_EMBEDDER": "hash"}
    return subprocess.run([str(ENGRAM), *args], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)


def contents(path: Path, user: str) -> list[str]:
    with Memory(path, embedder="hash") as m:
        return [r.content for r in m.list(user_id=user, limit=100)]


def test_an_export_with_line_separators_in_content_round_trips_through_engram(tmp_path):
    src = tmp_path / "src.db"
    with Memory(src, embedder="hash") as m:
        m.add([{"role": "user", "content": text, "timestamp": f"2024-05-01T10:{i:02d}:00Z"}
               for i, text in enumerate(ODD)], user_id="u", session_id="s1")
    dump = tmp_path / "dump.jsonl"
    exported = engram(tmp_path, "export", str(dump), "--db", str(src), "--user", "u")
    assert exported.returncode == 0, exported.stderr
    raw = dump.read_text(encoding="utf-8")
    assert "\u2028" in raw and "\u0085" in raw  # written raw, as JSON allows
    assert len(raw.splitlines()) > raw.count("\n")  # what str.splitlines() would have broken

    imported = engram(tmp_path, "import", str(dump), "--db", str(tmp_path / "dst.db"), "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout.splitlines()[-1])["records"] == len(ODD)
    assert contents(tmp_path / "dst.db", "u") == ODD == contents(src, "u")


def test_a_chat_jsonl_with_line_separators_imports_through_engram(tmp_path):
    chat = tmp_path / "chat.jsonl"
    chat.write_text("".join(json.dumps({"role": "user", "content": t, "session": "s1"}, ensure_ascii=False) + "\r\n"
                            for t in ODD), encoding="utf-8")  # CRLF line ends, as Windows writes them
    result = engram(tmp_path, "import", str(chat), "--db", str(tmp_path / "c.db"), "--user", "u", "--json")
    assert result.returncode == 0, result.stderr
    assert contents(tmp_path / "c.db", "u") == ODD


def test_the_cli_and_the_library_read_the_same_lines(tmp_path):
    with Memory(tmp_path / "a.db", embedder="hash") as m:
        m.add([{"content": t} for t in ODD], user_id="u")
        buf = io.StringIO()
        m.export_jsonl(buf, user_id="u")
    text = buf.getvalue()
    for given in (text, io.StringIO(text), text.split("\n")):  # a text, an open file, its lines
        with Memory(tmp_path / f"b{id(given)}.db", embedder="hash") as b:
            assert b.import_jsonl(given) == len(ODD)
            assert [r.content for r in b.list(user_id="u")] == ODD


def test_line_numbers_count_newlines_only(tmp_path):
    good = json.dumps({"type": "event", "oops": "a\u2028b"}, ensure_ascii=False)
    assert split_lines("a\u2028b\nc\r\n\nd") == ["a\u2028b", "c", "", "d"]
    assert [n for n, _ in numbered_lines(["x\n", "y\nz\n", ""])] == [1, 2, 3, 4]
    with pytest.raises(ValidationError):
        list(numbered_lines(io.BytesIO(b'{"type": "record"}\n')))  # type: ignore[arg-type]
    with Memory(tmp_path / "m.db", embedder="hash") as m, pytest.raises(ImportFormatError) as info:
        m.import_jsonl(f"\n\u2028\n{good}\n")
    assert info.value.line == 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text(f"\n\u2028\n{good}\n", encoding="utf-8")
    result = engram(tmp_path, "import", str(bad), "--db", str(tmp_path / "m.db"), "--format", "export")
    assert result.returncode != 0 and "bad.jsonl:3" in result.stderr
