"""What a fact record looks like, shared by the stages that make and reconcile facts."""

from __future__ import annotations

from engramdb.core.ids import new_id
from engramdb.core.models import Kind, MemoryRecord, Scope, content_hash, utcnow

USER = "user"  # the subject of a first-person statement without a speaker's name


def subject_of(turn: MemoryRecord) -> tuple[str, str] | None:
    """(slot subject, how a statement names it) for a first-person turn; None for what an
    assistant says (its "I" is not the user)."""
    if turn.role is not None and turn.role not in ("user", "human"):
        return None
    if turn.speaker:
        return turn.speaker, turn.speaker
    return USER, "The user"


def fact_record(source: MemoryRecord, *, subject: str, attribute: str, value: str, statement: str,
                single: bool, extractor: str) -> MemoryRecord:
    """A fact derived from ``source``: kind fact, in the user's (and agent's) scope, not the
    session's (a fact outlives the conversation it was said in), dated when it was said."""
    scope = Scope(source.scope.user_id, source.scope.agent_id,
                  None if source.scope.user_id or source.scope.agent_id else source.scope.session_id)
    now = utcnow()
    return MemoryRecord(
        id=new_id(), scope=scope, kind=Kind.FACT, content=statement, event_time=source.event_time,
        created_at=now, updated_at=now, role=None, speaker=None,
        metadata={"value": value, "single": single, "extractor": extractor},
        provenance=(source.id,), content_hash=content_hash(statement), subject=subject, attribute=attribute)
