"""Turning what callers pass to ``add`` into validated records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engramdb.core.errors import ValidationError
from engramdb.core.ids import new_id
from engramdb.core.models import MAX_TIME, Kind, MemoryRecord, Scope, content_hash, utcnow
from engramdb.core.timeparse import parse_datetime
from engramdb.engine.limits import (
    MAX_CONTENT_BYTES,
    MAX_METADATA_BYTES,
    clean_metadata,
    clean_provenance,
    clean_text,
    optional_name,
)

INHERIT_STEP = timedelta(milliseconds=1)  # an undated message follows the one before it by this much
TIME_KEYS = ("timestamp", "time", "created_at")  # a message's time, first key present wins

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


def drafts_from(data: AddInput, *, role: str | None, speaker: str | None) -> list[Draft]:
    """A text, one message dict, or a list of message dicts -> drafts."""
    if isinstance(data, (str, bytes)):
        return [Draft(clean_text(data), optional_name(role, "role"), optional_name(speaker, "speaker"), None, {})]
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
        # the first time key that is present and not null: 0 is the epoch, not "no time"
        when = next((msg[key] for key in TIME_KEYS if msg.get(key) is not None), None)
        drafts.append(Draft(
            content=clean_text(msg.get("content"), f"message {i} content"),
            role=optional_name(msg.get("role", role), f"message {i} role"),
            speaker=optional_name(msg.get("name", msg.get("speaker", speaker)), f"message {i} speaker"),
            event_time=parse_datetime(when) if when is not None else None,
            metadata=clean_metadata(msg.get("metadata")),
        ))
    return drafts


def build_records(drafts: Sequence[Draft], *, scope: Scope, kind: Kind, timestamp: datetime | None,
                  metadata: dict[str, Any], provenance: Sequence[str] = ()) -> list[MemoryRecord]:
    """An undated message is dated 1 ms after the message before it in the same call (one
    exchange keeps one date, and the call's order survives updates and re-imports); an undated
    first message takes ``timestamp``, else now."""
    now = utcnow()
    sources = clean_provenance(provenance)
    current: datetime | None = None
    records = []
    for d in drafts:
        if d.event_time is not None:
            current = d.event_time
        elif current is None:
            current = timestamp or now
        else:
            current = min(current + INHERIT_STEP, MAX_TIME)
        records.append(MemoryRecord(
            id=new_id(), scope=scope, kind=kind, content=d.content, event_time=current,
            created_at=now, updated_at=now, role=d.role, speaker=d.speaker,
            metadata={**metadata, **d.metadata}, provenance=sources,
            content_hash=content_hash(d.content),
        ))
    return records


__all__ = ["MAX_CONTENT_BYTES", "MAX_METADATA_BYTES", "AddInput", "Batch", "Draft", "build_records",
           "clean_metadata", "clean_text", "drafts_from"]
