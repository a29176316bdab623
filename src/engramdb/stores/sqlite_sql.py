"""SQL building blocks for the SQLite store: visibility, filters, row mapping."""

from __future__ import annotations

from typing import Any

from engramdb.core.filters import Cond, Group, Node
from engramdb.core.models import Scope
from engramdb.core.ports import ReadSpec
from engramdb.stores import sql_common
from engramdb.stores.sql_common import dt, record_columns, record_from_row, ts

# dt, record_from_row and ts live in sql_common (shared with PostgreSQL); importable from here too
__all__ = ["COLUMNS", "compile_filter", "dt", "record_from_row", "scope_clause", "ts", "visibility_clause"]

COLUMNS = record_columns("rowid")
_RECORD_FIELDS = {"kind": "m.kind", "role": "m.role", "speaker": "m.speaker", "event_time": "m.event_time",
                  "subject": "m.subject", "attribute": "m.attribute"}
_CMP = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def scope_clause(scope: Scope) -> tuple[str, list[Any]]:
    return sql_common.scope_clause(scope, "?")


def visibility_clause(spec: ReadSpec) -> tuple[str, list[Any]]:
    """WHERE fragment selecting the record versions a read may see."""
    return sql_common.visibility_clause(spec, "?", compile_filter)


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
