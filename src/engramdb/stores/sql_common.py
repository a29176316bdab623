"""What the SQL stores share: times as epoch seconds, row mapping, tombstone tags.

Both stores keep times as floating-point epoch seconds and select a record's columns in the
same order (``RECORD_FIELDS``), so the conversions live here once."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from engramdb.core.errors import ConflictError, NotFoundError
from engramdb.core.filters import Node
from engramdb.core.models import Action, HistoryEvent, Kind, MemoryRecord, Scope
from engramdb.core.ports import ReadSpec, Scored

FilterCompiler = Callable[[Node], tuple[str, list[Any]]]

# the columns of a record, in the order record_from_row reads them (after the row's ref)
RECORD_FIELDS = (
    "id", "version", "user_id", "agent_id", "session_id", "kind", "role", "speaker", "content", "metadata",
    "event_time", "created_at", "sys_from", "superseded_at", "superseded_by", "provenance", "content_hash",
    "valid_to", "subject", "attribute", "expires_at",
)


def record_columns(ref: str, alias: str = "m") -> str:
    """The SELECT list record_from_row reads: the row's ref column, then RECORD_FIELDS."""
    return ", ".join([f"{alias}.{ref}", *(f"{alias}.{name}" for name in RECORD_FIELDS)])


def ts(value: datetime) -> float:
    return value.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def _json_value(value: Any) -> Any:
    # SQLite hands back JSON text; PostgreSQL's jsonb arrives decoded
    return json.loads(value) if isinstance(value, str | bytes) else value


def record_from_row(row: Sequence[Any]) -> MemoryRecord:
    (_, mid, version, user_id, agent_id, session_id, kind, role, speaker, content, metadata,
     event_time, created_at, sys_from, superseded_at, superseded_by, provenance, chash,
     valid_to, subject, attribute, expires_at) = row
    return MemoryRecord(
        id=mid,
        scope=Scope(user_id, agent_id, session_id),
        kind=Kind(kind),
        content=content,
        event_time=datetime.fromtimestamp(event_time, tz=UTC),
        created_at=datetime.fromtimestamp(created_at, tz=UTC),
        updated_at=datetime.fromtimestamp(sys_from, tz=UTC),
        role=role,
        speaker=speaker,
        metadata=_json_value(metadata),
        superseded_at=dt(superseded_at),
        superseded_by=superseded_by,
        provenance=tuple(_json_value(provenance)),
        content_hash=chash,
        version=version,
        valid_to=dt(valid_to),
        subject=subject,
        attribute=attribute,
        expires_at=dt(expires_at),
    )


def scope_tag(key: bytes | None, field: str, value: str | None) -> str | None:
    """The opaque tag of one scope field of a tombstone (None for a field that is not set)."""
    if value is None or key is None:
        return None
    data = f"{field}\x1f{value}".encode("utf-8", "surrogatepass")
    return hmac.new(key, data, hashlib.sha256).hexdigest()[:32]


def scope_clause(scope: Scope, mark: str) -> tuple[str, list[Any]]:
    parts = [f"m.{column} = {mark}" for column, _ in scope.items()]
    return " AND ".join(parts), [value for _, value in scope.items()]


def visibility_clause(spec: ReadSpec, mark: str, compile_filter: FilterCompiler) -> tuple[str, list[Any]]:
    """WHERE fragment selecting the record versions a read may see (``mark``: the driver's
    parameter placeholder)."""
    sql, params = scope_clause(spec.scope, mark)
    if spec.as_of is not None:
        t = ts(spec.as_of)
        sql += f" AND m.sys_from <= {mark} AND (m.sys_to IS NULL OR m.sys_to > {mark})"
        params += [t, t]
        if spec.include_superseded:
            raise ValueError("as_of and include_superseded are exclusive")
    elif spec.include_superseded or spec.valid_at is not None:
        # the latest version of every id, superseded or not
        sql += " AND (m.sys_to IS NULL OR m.superseded_at IS NOT NULL)"
    else:
        sql += " AND m.sys_to IS NULL"
    if spec.valid_at is not None:
        # held at valid_at: said by then, and not yet replaced by then (a valid_to learnt after
        # an as_of moment was not known at that moment)
        t = ts(spec.valid_at)
        sql += f" AND m.event_time <= {mark} AND (m.valid_to IS NULL OR m.valid_to > {mark}"
        params += [t, t]
        if spec.as_of is not None:
            sql += f" OR m.superseded_at > {mark}"
            params.append(ts(spec.as_of))
        sql += ")"
    clock = spec.as_of or spec.at
    if clock is not None:
        sql += f" AND (m.expires_at IS NULL OR m.expires_at > {mark})"
        params.append(ts(clock))
    if not spec.include_archived:
        # archived by a maintenance pass (migration 0007); an as_of read sees what was not archived then
        if spec.as_of is not None:
            sql += f" AND (m.archived_at IS NULL OR m.archived_at > {mark})"
            params.append(ts(spec.as_of))
        else:
            sql += " AND m.archived_at IS NULL"
    if spec.kinds:
        sql += f" AND m.kind IN ({', '.join([mark] * len(spec.kinds))})"
        params += [k.value for k in spec.kinds]
    if spec.filters is not None:
        fsql, fparams = compile_filter(spec.filters)
        sql += f" AND ({fsql})"
        params += fparams
    return sql, params


# ---- what both stores' write paths decide alike -------------------------------------------

TAG_COLUMNS = {"user_id": "tag_user", "agent_id": "tag_agent", "session_id": "tag_session"}


def visible_to(rec: MemoryRecord, scope: Scope | None) -> MemoryRecord:
    """``rec`` if ``scope`` may see it (None: any), else NotFoundError (ids cannot be probed)."""
    if scope is not None and not scope.contains(rec.scope):
        raise NotFoundError(f"no memory with id {rec.id!r} in this scope")
    return rec


def changeable(rec: MemoryRecord) -> MemoryRecord:
    """``rec`` if it may get a next version or a successor (it was not superseded)."""
    if rec.superseded_at is not None:
        raise ConflictError(f"memory {rec.id} was superseded by {rec.superseded_by}; change that one")
    return rec


def supersession(old: MemoryRecord, new: MemoryRecord) -> tuple[datetime, dict[str, Any]]:
    """When ``old`` stopped holding in event time, and its state after ``new`` superseded it."""
    # it held until its successor was said (never before it was said itself)
    valid_to = old.valid_to or max(new.event_time, old.event_time)
    after = {**old.to_dict(), "superseded_at": new.created_at.isoformat(), "superseded_by": new.id,
             "valid_to": valid_to.isoformat()}
    return valid_to, after


def tombstone(eid: str, mid: str, at: float, tags: Sequence[str | None] | None = None,
              names: dict[str, str] | None = None) -> HistoryEvent:
    """A deletion tombstone as an event; with ``tags`` and ``names`` (tag -> value), naming each
    owner field whose value is known (a field nothing holds any more is left out)."""
    when = dt(at)
    assert when is not None
    owner: dict[str, str | None] | None = None
    if tags is not None:
        owner = {}
        for name, tag in zip(TAG_COLUMNS, tags, strict=True):
            if tag is None:
                owner[name] = None
            elif names is not None and tag in names:
                owner[name] = names[tag]
    return HistoryEvent(eid, mid, Action.DELETE, when, None, None, owner)


def tag_names(key: bytes, held: dict[str, set[str]], scope: Scope | None) -> dict[str, str]:
    """tag -> value for every scope value ``held`` (field -> values the memories hold) or the
    export ``scope`` names."""
    out: dict[str, str] = {}
    for name in TAG_COLUMNS:
        values = set(held.get(name, ()))
        if scope is not None and getattr(scope, name) is not None:
            values.add(getattr(scope, name))
        for value in values:
            tag = scope_tag(key, name, value)
            assert tag is not None
            out[tag] = value
    return out


def member_scores(windows: Iterable[tuple[float, Iterable[tuple[int, bool]]]]) -> list[Scored]:
    """Turns scored by the best episode window containing them: ``windows`` are (score, members)
    with each member's ref and whether the read may return it; best first, ties by ref."""
    best: dict[int, float] = {}
    for score, members in windows:
        for ref, ok in members:
            if ok and score > best.get(ref, float("-inf")):
                best[ref] = score
    return [Scored(ref, value) for ref, value in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))]
