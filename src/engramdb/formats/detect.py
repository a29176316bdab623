"""Pick the importer for a file: LoCoMo JSON, LongMemEval JSON, engramdb export, or JSONL chat."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engramdb.core.errors import ImportFormatError
from engramdb.core.jsonl import split_lines
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
    if not text.strip():
        raise ImportFormatError("file is empty", path=str(path))
    if fmt in ("locomo", "longmemeval") or (fmt == "auto" and text.lstrip().startswith("[")):
        data = _json(text, path)  # parsed once, for sniffing and for the batches
        if fmt == "auto":
            fmt = "locomo" if is_locomo(data) else "longmemeval" if is_longmemeval(data) else ""
            if not fmt:
                raise ImportFormatError("a JSON list that is neither LoCoMo nor LongMemEval", path=str(path))
        if fmt == "locomo":
            return Parsed(fmt, locomo_batches(data, path, user_id=user_id, agent_id=agent_id))
        return Parsed(fmt, longmemeval_batches(data, path, user_id=user_id, agent_id=agent_id))
    lines = split_lines(text)  # on "\n" only: U+2028 and kin are text inside JSON strings
    if fmt == "auto":
        fmt = _sniff_lines(lines, path)
    if fmt == "export":
        return Parsed(fmt, export_lines=lines)
    return Parsed(fmt, chat_batches(lines, path, user_id=user_id, agent_id=agent_id, session_id=session_id))


def _json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from None


def _sniff_lines(lines: list[str], path: Path) -> str:
    """JSON lines: an engramdb export (records and events) or a chat."""
    lineno, first = next((i, line) for i, line in enumerate(lines, start=1) if line.strip())
    try:
        obj = json.loads(first)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"invalid JSON: {exc.msg}", path=str(path), line=lineno) from None
    if isinstance(obj, dict) and obj.get("type") in ("record", "event"):
        return "export"
    return "jsonl"
