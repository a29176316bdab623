"""Issue 9 §2: every limit of ``add`` holds on every path that writes, import included."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from engramdb import ImportFormatError, Memory, ScopeError, ValidationError

LONG = "x" * 201  # one over the 200-character limit of names (scope fields, role, speaker)


def _export(mem: Memory) -> list[dict[str, Any]]:
    buf = io.StringIO()
    mem.export_jsonl(buf)
    return [json.loads(line) for line in buf.getvalue().splitlines()]


@pytest.fixture
def export_lines(mem: Memory) -> list[dict[str, Any]]:
    """A real export: two turns of one session (records, then their history events)."""
    mem.add([{"role": "user", "content": "hello", "timestamp": "2024-05-01T10:00:00Z"},
             {"role": "assistant", "content": "hi there"}], user_id="u", session_id="s")
    return _export(mem)


def _record(**changes: Any) -> dict[str, Any]:
    def change(line: dict[str, Any]) -> None:
        line.update(changes)
    return {"record": change}


def _meta(value: Any) -> dict[str, Any]:
    return _record(metadata=value)


def _deep(depth: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return dict(value)


BAD_RECORDS = {
    "content over 1 MB": _record(content="x" * 3_000_000),
    "empty content": _record(content="   "),
    "content not a string": _record(content={"text": "x"}),
    "metadata over 64 kB": _meta({"blob": "y" * 70_000}),
    "metadata too deep": _meta(_deep(33)),
    "role too long": _record(role=LONG),
    "role not a string": _record(role={"a": 1}),
    "speaker too long": _record(speaker=LONG),
    "user_id too long": _record(user_id=LONG),
    "session_id too long": _record(session_id=LONG),
    "provenance a string": _record(provenance="01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    "provenance of numbers": _record(provenance=[1, 2]),
    "provenance too long": _record(provenance=["01HZZZZZZZZZZZZZZZZZZZZZZZ"] * 101),
    "version 0": _record(version=0),
    "version beyond 64 bits": _record(version=2**63),
    "id too long": _record(id=LONG),
    "id not a string": _record(id={"a": 1}),
    "superseded_by not a string": _record(superseded_by=[1]),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_import_holds_every_write_limit(tmp_path: Path, export_lines: list[dict[str, Any]], case: str) -> None:
    lines = [dict(line) for line in export_lines]
    second = lines[1]  # line 2 of the file: a record
    assert second["type"] == "record"
    BAD_RECORDS[case]["record"](second)
    fresh = Memory(tmp_path / "fresh.db", embedder="hash", background=False)
    with pytest.raises(ImportFormatError, match=r"dump\.jsonl:2:"):
        fresh.import_jsonl([json.dumps(line) for line in lines], source="dump.jsonl")
    assert fresh.store.conn.db.execute("SELECT count(*) FROM memories").fetchone()[0] == 0
    assert fresh.store.conn.db.execute("SELECT count(*) FROM history").fetchone()[0] == 0
    fresh.close()


def test_import_refuses_deep_history_snapshots(tmp_path: Path, export_lines: list[dict[str, Any]]) -> None:
    lines = [dict(line) for line in export_lines]
    n = next(i for i, line in enumerate(lines) if line["type"] == "event")
    lines[n]["after"] = {**lines[n]["after"], "metadata": _deep(40)}
    fresh = Memory(tmp_path / "fresh.db", embedder="hash", background=False)
    with pytest.raises(ImportFormatError, match=rf"dump\.jsonl:{n + 1}:.*nested"):
        fresh.import_jsonl([json.dumps(line) for line in lines], source="dump.jsonl")
    assert fresh.count(user_id="u") == 0
    fresh.close()


def test_the_untouched_export_still_imports(tmp_path: Path, export_lines: list[dict[str, Any]]) -> None:
    fresh = Memory(tmp_path / "fresh.db", embedder="hash", background=False)
    lines = [json.dumps(line) for line in export_lines]
    lines[1] = lines[1].replace('"role": "assistant"', '"role": "' + "r" * 200 + '"')  # at the limit
    assert fresh.import_jsonl(lines) == 2
    assert [r.content for r in fresh.list(user_id="u")] == ["hello", "hi there"]
    with pytest.raises(ImportFormatError):  # and one over it is refused
        fresh.import_jsonl([lines[1].replace("r" * 200, "r" * 201)])
    fresh.close()


@pytest.mark.parametrize("field", ["user_id", "agent_id", "session_id"])
def test_scope_fields_are_short_names_on_add(mem: Memory, field: str) -> None:
    with pytest.raises(ScopeError, match="200"):
        mem.add("x", **{"user_id": "u", field: LONG})
    with pytest.raises(ScopeError, match="UTF-8"):
        mem.add("x", **{"user_id": "u", field: "caf\udce9"})
    assert mem.add("x", **{"user_id": "u", field: "y" * 200})  # at the limit


@pytest.mark.parametrize("provenance", ["01HZZZZZZZZZZZZZZZZZZZZZZZ", [1], ["ok"] * 101, [LONG]])
def test_provenance_is_held_to_the_same_limits_on_add(mem: Memory, provenance: Any) -> None:
    with pytest.raises(ValidationError, match="provenance"):
        mem.add("x", user_id="u", provenance=provenance)
    assert mem.count(user_id="u") == 0


def test_merged_metadata_is_held_to_the_limit(mem: Memory) -> None:
    """Call metadata and message metadata are each under 64 kB; together they are over it."""
    half = {"a": "y" * 40_000}
    with pytest.raises(ValidationError, match="metadata is larger"):
        mem.add([{"content": "x", "metadata": {"b": "z" * 40_000}}], user_id="u", metadata=half)
    assert mem.count(user_id="u") == 0
