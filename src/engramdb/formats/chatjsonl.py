"""Generic JSONL chat: one message per line.

``{"role": "user", "content": "...", "timestamp": "2024-05-01T10:00:00Z", "session": "s1"}``
Optional keys: ``speaker`` (or ``name``), ``metadata``, ``user``, ``agent``.
Consecutive lines of the same scope are written together as one batch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engramdb.core.errors import ImportFormatError, ValidationError
from engramdb.core.timeparse import parse_datetime
from engramdb.engine.limits import clean_metadata, clean_text, optional_name
from engramdb.formats.base import Batch

_KNOWN = {"role", "content", "timestamp", "session", "speaker", "name", "metadata", "user", "agent"}


def chat_batches(lines: list[str], path: Path, *, user_id: str | None, agent_id: str | None,
                 session_id: str | None) -> list[Batch]:
    batches: list[Batch] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            msg = _message(line)
        except (json.JSONDecodeError, RecursionError, ValidationError) as exc:
            raise ImportFormatError(str(exc), path=str(path), line=lineno) from None
        scope = (msg.pop("_user", None) or user_id, msg.pop("_agent", None) or agent_id,
                 msg.pop("_session", None) or session_id)
        if not any(scope):
            raise ImportFormatError("no scope: pass --user/--agent/--session or give 'user' or 'session'",
                                    path=str(path), line=lineno)
        last = batches[-1] if batches else None
        if last and (last.user_id, last.agent_id, last.session_id) == scope and len(last.messages) < 256:
            last.messages.append(msg)
        else:
            batches.append(Batch([msg], *scope))
    return batches


def _message(line: str) -> dict[str, Any]:
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValidationError("each line must be a JSON object")
    unknown = set(obj) - _KNOWN
    if unknown:
        raise ValidationError(f"unknown keys {sorted(unknown)}; allowed: {sorted(_KNOWN)}")
    if "content" not in obj:
        raise ValidationError("missing 'content'")
    msg: dict[str, Any] = {"content": clean_text(obj["content"])}
    for key in ("role", "speaker", "name"):
        if obj.get(key) is not None:
            msg["speaker" if key == "name" else key] = optional_name(obj[key], repr(key))
    if obj.get("timestamp") is not None:
        msg["timestamp"] = parse_datetime(obj["timestamp"]).isoformat()
    if obj.get("metadata") is not None:
        msg["metadata"] = clean_metadata(obj["metadata"])
    for key, internal in (("user", "_user"), ("agent", "_agent"), ("session", "_session")):
        if obj.get(key) is not None:
            msg[internal] = str(obj[key])
    return msg
