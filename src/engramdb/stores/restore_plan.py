"""Import of an export into a SQL store: every line is checked before anything is written.

The rules (``Store.restore``), all checked inside the write transaction, so
nothing of a file is written unless all of it can be:

- a memory id belongs to one scope (user, agent, session) for good: a record
  whose id is held by another scope, in the store or on another line of the
  same file, is a ConflictError;
- the versions of an id form one history: a version already stored must have
  the same content (else ConflictError) and is skipped, so re-importing an
  export is a no-op; versions after the stored ones (a later export of the
  same scope) are added, and the version that was current stops being
  current when the next one starts (or when the file says it was superseded);
  a version that starts before the one it follows, or that follows a
  superseded version, is a ConflictError;
- a history event belongs to the memory it names and to that memory's scope:
  an add/update/supersede event needs its memory among the file's records or
  the store's, and a before or after state that names that memory's scope; a deletion
  tombstone never attaches to a memory that exists; an event id already
  stored for another memory is a ConflictError.

Rows are written in the order they were first written (system time), so the
copy's rowids, and every tie broken by them, follow the original's.

The plan is the same for every store; a store hands in how to read what it holds
(:class:`Stored`): sqlite_restore.py, pg_restore.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import pairwise
from typing import Any

from engramdb.core.errors import ConflictError, ValidationError
from engramdb.core.models import Action, HistoryEvent, MemoryRecord, Scope
from engramdb.stores.sql_common import ts

_EPS = 1e-6  # seconds: system times compare equal after a round trip through ISO text


@dataclass
class Close:
    """A stored version that stops being current: a later version (or supersession) came in."""

    memory_id: str
    version: int
    sys_to: float
    superseded_at: float | None
    superseded_by: str | None
    valid_to: float | None = None


@dataclass
class Plan:
    """What a checked import writes: (index in the input, record, sys_to) in write order."""

    inserts: list[tuple[int, MemoryRecord, float | None]] = field(default_factory=list)
    closes: list[Close] = field(default_factory=list)
    events: list[HistoryEvent] = field(default_factory=list)


@dataclass
class Stored:
    """What the store holds: ``versions(ids)`` -> {id: {version: (record, sys_to)}};
    ``events(ids)`` -> {event id: (memory id, action)}."""

    versions: Callable[[Sequence[str]], dict[str, dict[int, tuple[MemoryRecord, float | None]]]]
    events: Callable[[Sequence[str]], dict[str, tuple[str, str]]]


@dataclass
class _Version:
    record: MemoryRecord
    index: int | None = None  # position in the input; None: only in the store
    stored_sys_to: float | None = None
    stored: bool = False


def plan_restore(db: Stored, records: Sequence[MemoryRecord], events: Sequence[HistoryEvent]) -> Plan:
    """Check an import against itself and the store; raise before anything is written."""
    incoming = _incoming(records)
    related = {*_successors(records), *(e.memory_id for e in events)}
    stored = {mid: {n: _Version(rec, stored_sys_to=sys_to, stored=True) for n, (rec, sys_to) in versions.items()}
              for mid, versions in db.versions(sorted({*incoming, *related})).items()}
    plan = Plan()
    scopes: dict[str, Scope] = {}
    for memory_id in sorted({*incoming, *stored}):
        chain = _merge(memory_id, incoming.get(memory_id, {}), stored.get(memory_id, {}))
        scopes[memory_id] = chain[0].record.scope
        if memory_id in incoming:
            _plan_chain(memory_id, chain, plan)
    _check_successors(records, scopes)
    plan.inserts.sort(key=lambda item: (item[1].updated_at, item[1].id, item[1].version))
    plan.events = _plan_events(db, events, scopes)
    return plan


def _incoming(records: Sequence[MemoryRecord]) -> dict[str, dict[int, _Version]]:
    """The file's versions by id; a repeated version must repeat the same record."""
    out: dict[str, dict[int, _Version]] = {}
    for i, rec in enumerate(records):
        if rec.version < 1:
            raise ValidationError(f"memory {rec.id}: version {rec.version} (versions start at 1)")
        versions = out.setdefault(rec.id, {})
        seen = versions.get(rec.version)
        if seen is None:
            versions[rec.version] = _Version(rec, i)
        elif seen.record != rec:
            raise ConflictError(f"memory {rec.id} v{rec.version} appears twice with different data")
    return out


def _successors(records: Sequence[MemoryRecord]) -> set[str]:
    return {r.superseded_by for r in records if r.superseded_by}


def _merge(memory_id: str, incoming: dict[int, _Version], stored: dict[int, _Version]) -> list[_Version]:
    """One version chain from the store and the file, oldest first."""
    if len({v.record.scope for v in [*incoming.values(), *stored.values()]}) > 1:
        raise ConflictError(f"memory {memory_id} belongs to another scope; an import cannot change it")
    chain = []
    for number in sorted({*incoming, *stored}):
        mine, theirs = stored.get(number), incoming.get(number)
        if mine is not None and theirs is not None:
            if mine.record.content_hash != theirs.record.content_hash:
                raise ConflictError(f"memory {memory_id} v{number} exists with other content")
            if mine.record.superseded_at is None and theirs.record.superseded_at is not None:
                # the file knows the stored version was superseded since
                mine.record = replace(mine.record, superseded_at=theirs.record.superseded_at,
                                      superseded_by=theirs.record.superseded_by,
                                      valid_to=mine.record.valid_to or theirs.record.valid_to)
        chain.append(mine if mine is not None else theirs)
    return [v for v in chain if v is not None]


def _plan_chain(memory_id: str, chain: list[_Version], plan: Plan) -> None:
    for prev, nxt in pairwise(chain):
        if prev.record.superseded_at is not None:
            raise ConflictError(f"memory {memory_id} was superseded at v{prev.record.version}; "
                                f"v{nxt.record.version} cannot follow it")
        if nxt.record.updated_at < prev.record.updated_at:
            raise ConflictError(f"memory {memory_id} v{nxt.record.version} starts before "
                                f"v{prev.record.version}")
    for i, version in enumerate(chain):
        rec = version.record
        sys_to = _sys_to(chain[i + 1].record.updated_at if i + 1 < len(chain) else rec.superseded_at)
        if not version.stored:
            assert version.index is not None
            plan.inserts.append((version.index, rec, sys_to))
        elif not _same_time(version.stored_sys_to, sys_to):
            if version.stored_sys_to is not None or sys_to is None:
                raise ConflictError(f"memory {memory_id} v{rec.version}: the import disagrees with "
                                    "the stored history")
            plan.closes.append(Close(memory_id, rec.version, sys_to, _sys_to(rec.superseded_at),
                                     rec.superseded_by, _sys_to(rec.valid_to)))


def _check_successors(records: Sequence[MemoryRecord], scopes: dict[str, Scope]) -> None:
    """A memory is superseded by one of the same scope (if the successor is known at all)."""
    for rec in records:
        successor = scopes.get(rec.superseded_by or "")
        if successor is not None and successor != rec.scope:
            raise ConflictError(f"memory {rec.id} names a successor of another scope")


def _plan_events(db: Stored, events: Sequence[HistoryEvent], scopes: dict[str, Scope]) -> list[HistoryEvent]:
    known = db.events([e.id for e in events])
    seen: dict[str, HistoryEvent] = {}
    out = []
    for ev in events:
        if ev.id in seen:
            if seen[ev.id] != ev:
                raise ConflictError(f"history event {ev.id} appears twice with different data")
            continue
        seen[ev.id] = ev
        _check_event(ev, scopes)
        if ev.id in known:
            if known[ev.id] != (ev.memory_id, ev.action.value):
                raise ConflictError(f"history event {ev.id} exists for another memory")
            continue  # already imported
        out.append(ev)
    return out


def _check_event(ev: HistoryEvent, scopes: dict[str, Scope]) -> None:
    owner = scopes.get(ev.memory_id)
    if ev.action is Action.DELETE:
        if owner is not None:
            raise ConflictError(f"a deletion tombstone for memory {ev.memory_id}, which exists")
        return
    if owner is None:
        raise ValidationError(f"history event {ev.id} is about memory {ev.memory_id}, "
                              "which is neither in the import nor in the store")
    if ev.before is None and ev.after is None:
        raise ValidationError(f"history event {ev.id} holds no state of memory {ev.memory_id}")
    for state in (ev.before, ev.after):
        if state is not None and _named_scope(state) != owner:
            raise ConflictError(f"history event {ev.id} names another scope than memory {ev.memory_id}")


def _named_scope(state: Any) -> Scope | None:
    if not isinstance(state, dict):
        raise ValidationError("a history event's before/after is a record (a JSON object) or null")
    try:
        return Scope(state.get("user_id"), state.get("agent_id"), state.get("session_id"))
    except ValidationError:
        return None


def _sys_to(value: datetime | None) -> float | None:
    return None if value is None else ts(value)


def _same_time(a: float | None, b: float | None) -> bool:
    return (a is None) == (b is None) and (a is None or b is None or abs(a - b) < _EPS)
