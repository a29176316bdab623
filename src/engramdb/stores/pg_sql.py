"""SQL building blocks for the PostgreSQL store: columns, visibility, the filter compiler.

Filters keep SQLite's semantics (stores/sqlite_sql.py), so both stores answer a filter
alike: a metadata value compares as json_extract's result would in SQLite, by class (NULL;
numeric, booleans being 1/0; text) and then by value, text in code-point order
(``COLLATE "C"``). The helper functions engram_rank/num/text are in migration 0001.
"""

from __future__ import annotations

from typing import Any

from engramdb.core.filters import Cond, Group, Node
from engramdb.core.models import Scope
from engramdb.core.ports import ReadSpec
from engramdb.stores import sql_common
from engramdb.stores.sql_common import record_columns

COLUMNS = record_columns("ref")
_TEXT_FIELDS = {"kind", "role", "speaker", "subject", "attribute"}
_CMP = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_NUMERIC, _TEXT = 1, 2


def scope_clause(scope: Scope) -> tuple[str, list[Any]]:
    return sql_common.scope_clause(scope, "%s")


def visibility_clause(spec: ReadSpec) -> tuple[str, list[Any]]:
    """WHERE fragment selecting the record versions a read may see."""
    return sql_common.visibility_clause(spec, "%s", compile_filter)


def compile_filter(node: Node) -> tuple[str, list[Any]]:
    if isinstance(node, Group):
        parts = [compile_filter(item) for item in node.items]
        joiner = " AND " if node.op == "and" else " OR "
        return joiner.join(f"({p})" for p, _ in parts), [v for _, ps in parts for v in ps]
    if node.field == "event_time":
        return _compile_column(node, "m.event_time", float)
    if node.field in _TEXT_FIELDS:
        return _compile_column(node, f'm.{node.field} COLLATE "C"', _as_text)
    return _compile_metadata(node)


def _as_text(value: Any) -> str:
    # SQLite gives a TEXT column's operand text affinity: 5 compares as '5'
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


def _compile_column(cond: Cond, column: str, cast: Any) -> tuple[str, list[Any]]:
    value = cond.value
    if cond.op == "exists":
        return f"{column} IS {'NOT ' if value else ''}NULL", []
    if cond.op in ("in", "nin"):
        present = [cast(v) for v in value if v is not None]
        if cond.op == "in":
            return f"{column} = ANY(%s)", [present]
        if len(present) < len(value):
            return "FALSE", []  # x NOT IN (..., NULL) is never true
        return f"{column} <> ALL(%s)", [present]
    if value is None:
        if cond.op in ("eq", "ne"):
            return f"{column} IS {'NOT ' if cond.op == 'ne' else ''}NULL", []
        return "FALSE", []
    return f"{column} {_CMP[cond.op]} %s", [cast(value)]


def _typed(value: Any) -> tuple[int, str, Any]:
    """(class, SQL expression of the value of that class, bound value)."""
    if isinstance(value, bool):
        return _NUMERIC, "engram_num(m.metadata #> %s)", str(int(value))
    if isinstance(value, int | float):
        # as JSON writes it (repr): the numeric equal to the one jsonb parsed from the record
        return _NUMERIC, "engram_num(m.metadata #> %s)", repr(value)
    return _TEXT, 'engram_text(m.metadata #> %s) COLLATE "C"', str(value)


def _compile_metadata(cond: Cond) -> tuple[str, list[Any]]:
    path = cond.field.removeprefix("metadata.").split(".")
    value = cond.value
    rank = "engram_rank(m.metadata #> %s)"
    if cond.op == "exists":
        return f"m.metadata #> %s IS {'NOT ' if value else ''}NULL", [path]
    if cond.op in ("in", "nin"):
        return _metadata_in(cond.op, path, value)
    if value is None:
        if cond.op in ("eq", "ne"):
            return f"{rank} IS {'NOT ' if cond.op == 'ne' else ''}NULL", [path]
        return "FALSE", []
    klass, expr, bound = _typed(value)
    cast = "numeric" if klass == _NUMERIC else "text"
    return f"({rank}, {expr}) {_CMP[cond.op]} (%s, %s::{cast})", [path, path, klass, bound]


def _metadata_in(op: str, path: list[str], values: tuple[Any, ...]) -> tuple[str, list[Any]]:
    if not values:
        return ("FALSE" if op == "in" else "TRUE"), []
    if op == "nin" and any(v is None for v in values):
        return "FALSE", []  # x NOT IN (..., NULL) is never true
    numbers = [_typed(v)[2] for v in values if v is not None and _typed(v)[0] == _NUMERIC]
    texts = [_typed(v)[2] for v in values if v is not None and _typed(v)[0] == _TEXT]
    found = ("(engram_rank(m.metadata #> %s) = 1 AND engram_num(m.metadata #> %s) = ANY(%s::text[]::numeric[])) OR "
             '(engram_rank(m.metadata #> %s) = 2 AND engram_text(m.metadata #> %s) COLLATE "C" = ANY(%s::text[]))')
    params = [path, path, numbers, path, path, texts]
    if op == "in":
        return f"({found})", params
    return f"(engram_rank(m.metadata #> %s) IS NOT NULL AND NOT ({found}))", [path, *params]
