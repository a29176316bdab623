"""Core value types. Stdlib only: no I/O, no third-party imports."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from engramdb.core.bounds import MAX_NAME_CHARS
from engramdb.core.errors import ScopeError, ValidationError

JSONDict = dict[str, Any]


class Kind(StrEnum):
    """What a memory is. Turns are raw messages and are never rewritten by lifecycle jobs."""

    TURN = "turn"
    FACT = "fact"
    SUMMARY = "summary"
    PROFILE = "profile"
    NOTE = "note"

    @classmethod
    def parse(cls, value: str | Kind) -> Kind:
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(k.value for k in cls)
            raise ValidationError(f"unknown kind {value!r}; expected one of {names}") from None


class Action(StrEnum):
    """History event types."""

    ADD = "add"
    UPDATE = "update"
    SUPERSEDE = "supersede"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Scope:
    """Who a memory belongs to. At least one field must be set.

    A read scope matches every record whose fields equal the fields given:
    ``Scope(user_id="u")`` sees all of u's agents and sessions, never another
    user's memories.
    """

    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("user_id", "agent_id", "session_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ScopeError(f"{name} must be a non-empty string")
            if value is not None and (len(value) > MAX_NAME_CHARS or not _encodable(value)):
                raise ScopeError(f"{name} must be valid UTF-8 of at most {MAX_NAME_CHARS} characters")
        if self.user_id is None and self.agent_id is None and self.session_id is None:
            raise ScopeError("a scope needs at least one of user_id, agent_id, session_id")

    def items(self) -> list[tuple[str, str]]:
        """The fields that are set, as (column, value) pairs."""
        pairs = [("user_id", self.user_id), ("agent_id", self.agent_id), ("session_id", self.session_id)]
        return [(k, v) for k, v in pairs if v is not None]

    def contains(self, other: Scope) -> bool:
        """True when a record written with scope ``other`` is visible to this scope."""
        return all(getattr(other, k) == v for k, v in self.items())

    def as_dict(self) -> dict[str, str | None]:
        return {"user_id": self.user_id, "agent_id": self.agent_id, "session_id": self.session_id}


# the range a stored time survives (event times are stored as float epoch seconds)
MIN_TIME = datetime(1, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC.

    A time whose offset pushes it past year 1 or 9999 (``0001-01-01T00:00+05:00``)
    is a ValidationError, not an OverflowError."""
    try:
        result = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        result = None
    if result is None or not MIN_TIME <= result <= MAX_TIME:
        raise ValidationError(f"timestamp {value.isoformat()} is outside 0001-01-01 .. 9999-12-31T23:59:59 UTC")
    return result


def content_hash(content: str) -> str:
    """Hash of the NFC-normalised content; equal text gives equal hashes."""
    return hashlib.sha256(unicodedata.normalize("NFC", content).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """One memory, as of one version.

    ``event_time`` is when it was said or happened; ``created_at`` is when the
    memory first entered the store, ``updated_at`` when this version did, and
    ``superseded_at`` when a newer memory replaced it (it stays readable with
    ``as_of`` and in history).
    """

    id: str
    scope: Scope
    kind: Kind
    content: str
    event_time: datetime
    created_at: datetime
    updated_at: datetime
    role: str | None = None
    speaker: str | None = None
    metadata: JSONDict = field(default_factory=dict)
    superseded_at: datetime | None = None
    superseded_by: str | None = None
    provenance: tuple[str, ...] = ()
    content_hash: str = ""
    version: int = 1
    #: event time at which it stopped being true (its successor's event time), None while it holds
    valid_to: datetime | None = None
    #: a fact's slot: who it is about ("user", a name) and what ("home city"); facts of one
    #: slot supersede each other by event time
    subject: str | None = None
    attribute: str | None = None
    #: after this moment reads skip it and the cleanup stage erases it (a TTL)
    expires_at: datetime | None = None

    @property
    def index_text(self) -> str:
        """What the text index and the embedder see: the speaker's name is part of
        the key (questions name people; measured in BENCHMARKS.md)."""
        return f"{self.speaker}: {self.content}" if self.speaker else self.content

    @property
    def index_hash(self) -> str:
        """Equal index texts share one vector."""
        return content_hash(self.index_text)

    def to_dict(self) -> JSONDict:
        return {
            "id": self.id,
            **self.scope.as_dict(),
            "kind": self.kind.value,
            "content": self.content,
            "role": self.role,
            "speaker": self.speaker,
            "metadata": self.metadata,
            "event_time": self.event_time.isoformat(),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "superseded_at": self.superseded_at.isoformat() if self.superseded_at else None,
            "superseded_by": self.superseded_by,
            "provenance": list(self.provenance),
            "content_hash": self.content_hash,
            "version": self.version,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "subject": self.subject,
            "attribute": self.attribute,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One change to one memory, with the record before and after (as dicts).

    A deletion tombstone (action 'delete') has neither: only its memory id and time.
    ``scope`` is set only on a tombstone in an export file, where it names the owner in
    clear (the file is the owner's); a field it leaves out is one the export could not
    name. The store keeps opaque tags instead (README "Erasure").
    """

    id: str
    memory_id: str
    action: Action
    at: datetime
    before: JSONDict | None
    after: JSONDict | None
    scope: dict[str, str | None] | None = None

    def to_dict(self) -> JSONDict:
        out: JSONDict = {
            "id": self.id,
            "memory_id": self.memory_id,
            "action": self.action.value,
            "at": self.at.isoformat(),
            "before": self.before,
            "after": self.after,
        }
        if self.scope is not None:
            out["scope"] = self.scope
        return out


@dataclass(frozen=True, slots=True)
class Hit:
    """A ranked search result. ``score`` is in [0, 1]; higher is better."""

    record: MemoryRecord
    score: float
    sources: tuple[str, ...] = ()
    tokens: int = 0

    def to_dict(self) -> JSONDict:
        return {"score": round(self.score, 6), "sources": list(self.sources), "tokens": self.tokens,
                **self.record.to_dict()}


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What the agent is given: ranked hits and the packed, chronological context."""

    query: str
    hits: tuple[Hit, ...]
    context: str
    context_tokens: int
    packed: tuple[Hit, ...]
    budget_tokens: int | None = None
    #: what the caller should know about how the result was made (e.g. vectors of another
    #: embedder: keyword lists only); the CLI prints them on stderr
    warnings: tuple[str, ...] = ()
    #: memories of the searched scope whose vectors are not made yet (queued for the background
    #: pipeline, or failed): keyword lists see them, dense lists do not; Memory.flush() waits
    unembedded: int = 0

    def to_dict(self) -> JSONDict:
        return {
            "query": self.query,
            "unembedded": self.unembedded,
            "hits": [h.to_dict() for h in self.hits],
            "packed_ids": [h.record.id for h in self.packed],
            "context": self.context,
            "context_tokens": self.context_tokens,
            "budget_tokens": self.budget_tokens,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class ScopeSummary:
    """One scope that holds memories: its fields (None where grouped over), how many current
    memories and distinct sessions it holds, and the event-time span of its memories."""

    user_id: str | None
    agent_id: str | None
    session_id: str | None
    memories: int
    sessions: int
    first: datetime
    last: datetime

    def to_dict(self) -> JSONDict:
        return {"user_id": self.user_id, "agent_id": self.agent_id, "session_id": self.session_id,
                "memories": self.memories, "sessions": self.sessions,
                "first": self.first.isoformat(), "last": self.last.isoformat()}


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    return as_utc(datetime.fromisoformat(str(value)))


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, got {type(value).__name__}")
    return value


def _optional_text(value: Any, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(f"{what} must be a list, got {type(value).__name__}")
    return value


def record_from_dict(data: JSONDict) -> MemoryRecord:
    """Inverse of MemoryRecord.to_dict (used by import); raises ValidationError."""
    try:
        event_time = _dt(data["event_time"])
        created_at = _dt(data["created_at"])
        updated_at = _dt(data.get("updated_at", data["created_at"]))
        assert event_time and created_at and updated_at
        return MemoryRecord(
            id=_text(data["id"], "id"),
            scope=Scope(data.get("user_id"), data.get("agent_id"), data.get("session_id")),
            kind=Kind.parse(data.get("kind", "turn")),
            content=_text(data["content"], "content"),
            event_time=event_time,
            created_at=created_at,
            updated_at=updated_at,
            role=data.get("role"),
            speaker=data.get("speaker"),
            metadata=dict(data.get("metadata") or {}),
            superseded_at=_dt(data.get("superseded_at")),
            superseded_by=data.get("superseded_by"),
            provenance=tuple(_list(data.get("provenance"), "provenance")),
            # recomputed, never trusted: a hand-edited line must not keep its old hash
            content_hash=content_hash(_text(data["content"], "content")),
            version=int(data.get("version", 1)),
            valid_to=_dt(data.get("valid_to")),
            subject=_optional_text(data.get("subject"), "subject"),
            attribute=_optional_text(data.get("attribute"), "attribute"),
            expires_at=_dt(data.get("expires_at")),
        )
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"not a memory record: {exc}") from exc


def event_from_dict(data: JSONDict) -> HistoryEvent:
    try:
        at = _dt(data["at"])
        assert at is not None
        return HistoryEvent(
            id=str(data["id"]),
            memory_id=str(data["memory_id"]),
            action=Action(data["action"]),
            at=at,
            before=data.get("before"),
            after=data.get("after"),
            scope=_event_scope(data.get("scope")),
        )
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"not a history event: {exc}") from exc


_SCOPE_FIELDS = ("user_id", "agent_id", "session_id")


def _event_scope(value: Any) -> dict[str, str | None] | None:
    """A tombstone's owner in an export: known fields only, each a non-empty string or null."""
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= set(_SCOPE_FIELDS):
        raise ValidationError(f"an event's scope must be an object with keys among {', '.join(_SCOPE_FIELDS)}")
    for name, field_value in value.items():
        if field_value is not None and (not isinstance(field_value, str) or not field_value.strip()):
            raise ValidationError(f"an event's scope {name} must be a non-empty string or null")
    return {k: value[k] for k in _SCOPE_FIELDS if k in value}


Records = list[MemoryRecord]
Events = list[HistoryEvent]
