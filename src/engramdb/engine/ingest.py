"""Turning what callers pass to ``add`` into validated records."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engramdb.core.errors import ValidationError
from engramdb.core.ids import new_id
from engramdb.core.models import Kind, MemoryRecord, Scope, content_hash, utcnow
from engramdb.core.timeparse import parse_datetime

MAX_CONTENT_BYTES = 1_000_000
MAX_METADATA_BYTES = 64_000

Message = Mapping[str, Any]
AddInput = str | bytes | Message | Sequence[Message | str]


@dataclass
class Batch:
    """Messages of one session, in order: one ``Memory.add`` call, one transaction."""

    messages: list[dict[str, Any]]
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Draft:
    content: str
    role: str | None
    speaker: str | None
    event_time: datetime | None
    metadata: dict[str, Any]


def clean_text(value: Any, what: str = "content") -> str:
    """Valid UTF-8, not empty, at most 1 MB; bytes are decoded strictly."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{what} is not valid UTF-8 (byte {exc.start})") from None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, got {type(value).__name__}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError(f"{what} is not valid UTF-8 (it holds a lone surrogate)") from None
    if not value.strip():
        raise ValidationError(f"{what} is empty")
    if size > MAX_CONTENT_BYTES:
        raise ValidationError(f"{what} is {size} bytes; the limit is {MAX_CONTENT_BYTES}")
    return value


def clean_metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("metadata must be a JSON object")
    try:
        encoded = json.dumps(dict(value), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"metadata is not JSON-serialisable: {exc}") from None
    if len(encoded.encode("utf-8", "surrogatepass")) > MAX_METADATA_BYTES:
        raise ValidationError(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    result: dict[str, Any] = json.loads(encoded)
    return result


def _optional_str(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValidationError(f"{what} must be a non-empty string of at most 200 characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{what} is not valid UTF-8 (it holds a lone surrogate)") from None
    return value


def drafts_from(data: AddInput, *, role: str | None, speaker: str | None) -> list[Draft]:
    """A text, one message dict, or a list of message dicts -> drafts."""
    if isinstance(data, (str, bytes)):
        return [Draft(clean_text(data), _optional_str(role, "role"), _optional_str(speaker, "speaker"), None, {})]
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, Sequence) or not data:
        raise ValidationError("add() takes a text, a message dict, or a non-empty list of texts or message dicts")
    drafts = []
    for i, msg in enumerate(data):
        if isinstance(msg, (str, bytes)):
            msg = {"content": msg}
        if not isinstance(msg, Mapping):
            raise ValidationError(f"message {i} is neither a text nor an object")
        when = msg.get("timestamp") or msg.get("time") or msg.get("created_at")
        drafts.append(Draft(
            content=clean_text(msg.get("content"), f"message {i} content"),
            role=_optional_str(msg.get("role", role), f"message {i} role"),
            speaker=_optional_str(msg.get("name", msg.get("speaker", speaker)), f"message {i} speaker"),
            event_time=parse_datetime(when) if when is not None else None,
            metadata=clean_metadata(msg.get("metadata")),
        ))
    return drafts


def build_records(drafts: Sequence[Draft], *, scope: Scope, kind: Kind, timestamp: datetime | None,
                  metadata: dict[str, Any], provenance: Sequence[str] = ()) -> list[MemoryRecord]:
    now = utcnow()
    records = []
    for d in drafts:
        event_time = d.event_time or timestamp or now
        records.append(MemoryRecord(
            id=new_id(), scope=scope, kind=kind, content=d.content, event_time=event_time,
            created_at=now, updated_at=now, role=d.role, speaker=d.speaker,
            metadata={**metadata, **d.metadata}, provenance=tuple(provenance),
            content_hash=content_hash(d.content),
        ))
    return records
