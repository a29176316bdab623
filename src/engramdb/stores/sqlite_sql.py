"""SQL building blocks for the SQLite store: visibility, filters, row mapping."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from engramdb.core.filters import Cond, Group, Node
from engramdb.core.models import Kind, MemoryRecord, Scope
from engramdb.core.ports import ReadSpec

COLUMNS = (
    "m.rowid, m.id, m.version, m.user_id, m.agent_id, m.session_id, m.kind, m.role, m.speaker, "
    "m.content, m.metadata, m.event_time, m.created_at, m.sys_from, m.superseded_at, "
    "m.superseded_by, m.provenance, m.content_hash, m.valid_to, m.subject, m.attribute, m.expires_at"
)
_RECORD_FIELDS = {"kind": "m.kind", "role": "m.role", "speaker": "m.speaker", "event_time": "m.event_time",
                  "subject": "m.subject", "attribute": "m.attribute"}
_CMP = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def ts(value: datetime) -> float:
    return value.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def record_from_row(row: sqlite3.Row | tuple[Any, ...]) -> MemoryRecord:
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
        metadata=json.loads(metadata),
        superseded_at=dt(superseded_at),
        superseded_by=superseded_by,
        provenance=tuple(json.loads(provenance)),
        content_hash=chash,
        version=version,
        valid_to=dt(valid_to),
        subject=subject,
        attribute=attribute,
        expires_at=dt(expires_at),
    )


def scope_clause(scope: Scope) -> tuple[str, list[Any]]:
    parts = [f"m.{column} = ?" for column, _ in scope.items()]
    return " AND ".join(parts), [value for _, value in scope.items()]


def visibility_clause(spec: ReadSpec) -> tuple[str, list[Any]]:
    """WHERE fragment selecting the record versions a read may see."""
    sql, params = scope_clause(spec.scope)
    if spec.as_of is not None:
        t = ts(spec.as_of)
        sql += " AND m.sys_from <= ? AND (m.sys_to IS NULL OR m.sys_to > ?)"
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
        sql += " AND m.event_time <= ? AND (m.valid_to IS NULL OR m.valid_to > ?"
        params += [t, t]
        if spec.as_of is not None:
            sql += " OR m.superseded_at > ?"
            params.append(ts(spec.as_of))
        sql += ")"
    clock = spec.as_of or spec.at
    if clock is not None:
        sql += " AND (m.expires_at IS NULL OR m.expires_at > ?)"
        params.append(ts(clock))
    if not spec.include_archived:
        # archived by a maintenance pass (migration 0007); an as_of read sees what was not archived then
        if spec.as_of is not None:
            sql += " AND (m.archived_at IS NULL OR m.archived_at > ?)"
            params.append(ts(spec.as_of))
        else:
            sql += " AND m.archived_at IS NULL"
    if spec.kinds:
        sql += f" AND m.kind IN ({','.join('?' * len(spec.kinds))})"
        params += [k.value for k in spec.kinds]
    if spec.filters is not None:
        fsql, fparams = compile_filter(spec.filters)
        sql += f" AND ({fsql})"
        params += fparams
    return sql, params


def compile_filter(node: Node) -> tuple[str, list[Any]]:
    if isinstance(node, Group):
        parts = [compile_filter(item) for item in node.items]
        joiner = " AND " if node.op == "and" else " OR "
        return joiner.join(f"({p})" for p, _ in parts), [v for _, ps in parts for v in ps]
    return _compile_cond(node)


def _column(cond: Cond) -> tuple[str, list[Any]]:
    if cond.field in _RECORD_FIELDS:
        return _RECORD_FIELDS[cond.field], []
    path = cond.field.removeprefix("metadata.")
    # keys were validated to [A-Za-z0-9_-] segments; quote each for JSON path syntax
    json_path = "$" + "".join(f'."{segment}"' for segment in path.split("."))
    return "json_extract(m.metadata, ?)", [json_path]


def _compile_cond(cond: Cond) -> tuple[str, list[Any]]:
    column, params = _column(cond)
    value = cond.value
    if cond.op == "exists":
        if cond.field in _RECORD_FIELDS:
            return (f"{column} IS NOT NULL" if value else f"{column} IS NULL"), params
        path = params[0]
        test = "json_type(m.metadata, ?) IS NOT NULL" if value else "json_type(m.metadata, ?) IS NULL"
        return test, [path]
    if cond.op in ("in", "nin"):
        if not value:
            return ("0" if cond.op == "in" else "1"), []
        marks = ",".join("?" * len(value))
        neg = "NOT " if cond.op == "nin" else ""
        return f"{column} {neg}IN ({marks})", params + [_bind(v) for v in value]
    if value is None:
        if cond.op == "eq":
            return f"{column} IS NULL", params
        if cond.op == "ne":
            return f"{column} IS NOT NULL", params
    return f"{column} {_CMP[cond.op]} ?", [*params, _bind(value)]


def _bind(value: Any) -> Any:
    # json_extract returns 1/0 for JSON booleans
    if isinstance(value, bool):
        return int(value)
    return value
