"""What importers produce: batches of messages, each for one scope, written as one transaction."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from engramdb.core.errors import ImportFormatError
from engramdb.engine.ingest import Batch

__all__ = ["Batch", "load_json", "need", "read_text"]


def read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFormatError(f"cannot read file: {exc.strerror}", path=str(path)) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ImportFormatError(f"corrupt gzip data: {exc}", path=str(path)) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportFormatError("invalid UTF-8", path=str(path), line=line) from None


def load_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from None


def need(obj: Any, key: str, kind: type | tuple[type, ...], where: str, path: Path) -> Any:
    """obj[key] of the given type, or an ImportFormatError naming where it is missing."""
    if not isinstance(obj, dict) or key not in obj:
        raise ImportFormatError(f"{where}: missing {key!r}", path=str(path))
    value = obj[key]
    if not isinstance(value, kind):
        raise ImportFormatError(f"{where}: {key!r} has the wrong type ({type(value).__name__})", path=str(path))
    return value
