"""What a fact record looks like, shared by the stages that make and reconcile facts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from engramdb.core.ids import new_id
from engramdb.core.models import Kind, MemoryRecord, Scope, content_hash, utcnow

USER = "user"  # the subject of a first-person statement without a speaker's name
_MACHINES = {"assistant", "ai", "bot", "system", "agent", "model", "chatbot", "gpt", "claude"}


def subject_of(turn: MemoryRecord) -> tuple[str, str] | None:
    """(slot subject, how a statement names it) for a first-person turn; None for what an
    assistant says (its "I" is not the user)."""
    if turn.speaker and turn.speaker.strip().casefold() not in _MACHINES:
        return turn.speaker, turn.speaker  # a named person (both sides of a conversation between people)
    if turn.role is not None and turn.role not in ("user", "human"):
        return None
    return USER, "The user"


def fact_scope(source: MemoryRecord) -> Scope:
    """A fact lives in the user's (and agent's) scope, not the session's: it outlives the
    conversation it was said in."""
    scope = source.scope
    return Scope(scope.user_id, scope.agent_id, None if scope.user_id or scope.agent_id else scope.session_id)


def fact_record(source: MemoryRecord, *, subject: str, attribute: str, value: str, statement: str,
                single: bool, extractor: str, provenance: Sequence[str] | None = None,
                event_time: datetime | None = None, extra: Mapping[str, Any] | None = None,
                sources: Sequence[MemoryRecord] = ()) -> MemoryRecord:
    """A fact derived from ``source`` (and the other memories ``provenance`` names, ``source``
    first by default): kind fact, in :func:`fact_scope`, dated when it was said unless
    ``event_time`` says when it became true. ``extra`` joins the metadata.

    The fact expires with the first of ``source`` and ``sources`` (the turns it was drawn
    from) to expire: what was said under a TTL must not outlive it as a fact."""
    now = utcnow()
    return MemoryRecord(
        id=new_id(), scope=fact_scope(source), kind=Kind.FACT, content=statement,
        event_time=event_time or source.event_time, created_at=now, updated_at=now, role=None, speaker=None,
        metadata={"value": value, "single": single, "extractor": extractor, **(extra or {})},
        provenance=tuple(provenance) if provenance else (source.id,), content_hash=content_hash(statement),
        subject=subject, attribute=attribute, expires_at=_first_expiry([source, *sources]))


def _first_expiry(sources: Sequence[MemoryRecord]) -> datetime | None:
    ends = [s.expires_at for s in sources if s.expires_at is not None]
    return min(ends) if ends else None
