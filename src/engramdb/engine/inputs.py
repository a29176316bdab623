"""Facade arguments made into core values: records to write, scopes, event-time filters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from engramdb.core.filters import Cond, Group, Node
from engramdb.core.models import Kind, Records, Scope
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


def said_by(filters: Node | None, valid_at: TimeLike | None) -> Node | None:
    """Event time as a filter every store already compiles: event_time <= valid_at."""
    if valid_at is None:
        return filters
    bound = Cond("event_time", "lte", parse_datetime(valid_at).timestamp())
    return bound if filters is None else Group("and", (filters, bound))


def maybe_scope(user_id: str | None, agent_id: str | None, session_id: str | None) -> Scope | None:
    if user_id is None and agent_id is None and session_id is None:
        return None
    return Scope(user_id, agent_id, session_id)
