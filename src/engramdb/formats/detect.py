"""Pick the importer for a file: LoCoMo JSON, LongMemEval JSON, engramdb export, or JSONL chat."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engramdb.core.errors import ImportFormatError
from engramdb.formats.base import Batch, read_text
from engramdb.formats.chatjsonl import chat_batches
from engramdb.formats.locomo import is_locomo, locomo_batches
from engramdb.formats.longmemeval import is_longmemeval, longmemeval_batches

FORMATS = ("auto", "locomo", "longmemeval", "jsonl", "export")


@dataclass
class Parsed:
    """A fully parsed file: either message batches or export lines (never both)."""

    format: str
    batches: list[Batch] = field(default_factory=list)
    export_lines: list[str] = field(default_factory=list)


def parse_file(path: Path, *, fmt: str = "auto", user_id: str | None = None, agent_id: str | None = None,
               session_id: str | None = None) -> Parsed:
    """Parse everything before anything is written, so a bad line writes nothing."""
    if fmt not in FORMATS:
        raise ImportFormatError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", path=str(path))
    text = read_text(path)
    if fmt == "auto":
        fmt = _sniff(text, path)
    if fmt in ("locomo", "longmemeval"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from None
        if fmt == "locomo":
            return Parsed(fmt, locomo_batches(data, path, user_id=user_id, agent_id=agent_id))
        return Parsed(fmt, longmemeval_batches(data, path, user_id=user_id, agent_id=agent_id))
    lines = text.splitlines()
    if fmt == "export":
        return Parsed(fmt, export_lines=lines)
    return Parsed(fmt, chat_batches(lines, path, user_id=user_id, agent_id=agent_id, session_id=session_id))


def _sniff(text: str, path: Path) -> str:
    stripped = text.lstrip()
    if not stripped:
        raise ImportFormatError("file is empty", path=str(path))
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from None
        if is_locomo(data):
            return "locomo"
        if is_longmemeval(data):
            return "longmemeval"
        raise ImportFormatError("a JSON list that is neither LoCoMo nor LongMemEval", path=str(path))
    first = stripped.splitlines()[0]
    try:
        obj = json.loads(first)
    except json.JSONDecodeError as exc:
        line = text[: len(text) - len(stripped)].count("\n") + 1
        raise ImportFormatError(f"invalid JSON: {exc.msg}", path=str(path), line=line) from None
    if isinstance(obj, dict) and obj.get("type") in ("record", "event"):
        return "export"
    return "jsonl"
