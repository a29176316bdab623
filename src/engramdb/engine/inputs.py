"""Facade arguments made into core values: records to write, scopes, event-time filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from engramdb.core.errors import ValidationError
from engramdb.core.models import Kind, Records, Scope, utcnow
from engramdb.core.timeparse import parse_datetime
from engramdb.engine.ingest import AddInput, build_records, clean_metadata, drafts_from
from engramdb.engine.limits import validate_record

TimeLike = datetime | str | int | float


def make_records(messages: AddInput, scope: Scope, *, kind: Kind | str | None = None,
             timestamp: TimeLike | None = None, metadata: dict[str, Any] | None = None,
             role: str | None = None, speaker: str | None = None,
             provenance: Sequence[str] = ()) -> Records:
    is_text = isinstance(messages, (str, bytes))
    the_kind = Kind.parse(kind) if kind is not None else (Kind.NOTE if is_text else Kind.TURN)
    drafts = drafts_from(messages, role=role, speaker=speaker)
    when = parse_datetime(timestamp) if timestamp is not None else None
    return [validate_record(r) for r in build_records(
        drafts, scope=scope, kind=the_kind, timestamp=when, metadata=clean_metadata(metadata),
        provenance=provenance)]


def lifecycle_fields(records: Records, *, subject: str | None, attribute: str | None,
                     expires_at: TimeLike | None, ttl: float | None) -> Records:
    """A fact's slot and an expiry, on every record of one add."""
    if subject is None and attribute is None and expires_at is None and ttl is None:
        return records
    if (subject is None) != (attribute is None):
        raise ValidationError("subject and attribute go together (a fact's slot)")
    if expires_at is not None and ttl is not None:
        raise ValidationError("give expires_at or ttl, not both")
    when = parse_datetime(expires_at) if expires_at is not None else None
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl < 1e11:
            raise ValidationError("ttl must be a positive number of seconds")
        when = utcnow() + timedelta(seconds=float(ttl))
    return [validate_record(replace(r, subject=subject, attribute=attribute, expires_at=when)) for r in records]


def maybe_scope(user_id: str | None, agent_id: str | None, session_id: str | None) -> Scope | None:
    if user_id is None and agent_id is None and session_id is None:
        return None
    return Scope(user_id, agent_id, session_id)
