"""Metadata and field filters: a small, validated query language.

``{"topic": "travel", "kind": {"$in": ["fact", "note"]}, "$or": [...]}``

Keys ``kind``, ``role``, ``speaker``, ``event_time``, ``subject`` and ``attribute`` address record fields;
any other key addresses ``metadata`` (dots walk into nested objects).
Operators: $eq $ne $in $nin $gt $gte $lt $lte $exists; combinators $and $or.
Parsing happens once, here, so every store compiles the same validated tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engramdb.core.bounds import check_depth, check_number, check_utf8
from engramdb.core.errors import ValidationError

RECORD_FIELDS = frozenset({"kind", "role", "speaker", "event_time", "subject", "attribute"})
OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists"})
MAX_IN_VALUES = 1000
_KEY = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


@dataclass(frozen=True, slots=True)
class Cond:
    field: str  # a record field name, or "metadata.<path>"
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class Group:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


Node = Cond | Group


def parse_filters(filters: dict[str, Any] | None) -> Node | None:
    """Validate a filter dict and return its tree (None for no filter)."""
    if filters is None or filters == {}:
        return None
    if not isinstance(filters, dict):
        raise ValidationError("filters must be a JSON object")
    check_depth(filters, "filters")  # before the recursive parse below
    return _parse_obj(filters)


def _parse_obj(obj: dict[str, Any]) -> Node:
    items: list[Node] = []
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ValidationError(f"invalid filter key {key!r}: keys are strings")
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
                raise ValidationError(f"{key} takes a non-empty list of filter objects")
            items.append(Group(key[1:], tuple(_parse_obj(v) for v in value)))
        elif key.startswith("$"):
            raise ValidationError(f"unknown filter operator {key!r} at top level")
        else:
            items.extend(_parse_field(key, value))
    return items[0] if len(items) == 1 else Group("and", tuple(items))


def _parse_field(key: str, value: Any) -> list[Node]:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValidationError(f"invalid filter key {key!r}: use letters, digits, _ - and dots")
    field_name = key if key in RECORD_FIELDS else f"metadata.{key.removeprefix('metadata.')}"
    if isinstance(value, dict):
        if not value:
            raise ValidationError(f"empty operator object for {key!r}")
        return [_cond(field_name, op, v) for op, v in value.items()]
    return [_cond(field_name, "$eq", value)]


def _cond(field_name: str, op: str, value: Any) -> Cond:
    if op not in OPERATORS:
        raise ValidationError(f"unknown filter operator {op!r}")
    if op in ("$in", "$nin"):
        if not isinstance(value, list) or not all(_is_scalar(v) for v in value):
            raise ValidationError(f"{op} takes a list of scalars")
        if len(value) > MAX_IN_VALUES:
            raise ValidationError(f"{op} takes at most {MAX_IN_VALUES} values")
        value = tuple(_normalise(field_name, _checked(v)) for v in value)
    elif op == "$exists":
        if not isinstance(value, bool):
            raise ValidationError("$exists takes true or false")
    elif not _is_scalar(value):
        raise ValidationError(f"{op} takes a scalar (string, number, boolean, null)")
    else:
        value = _normalise(field_name, _checked(value))
    return Cond(field_name, op[1:], value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, datetime))


def _checked(value: Any) -> Any:
    """A scalar SQLite can bind: 64-bit integers, finite floats, UTF-8 strings."""
    check_number(value, "filter value")
    if isinstance(value, str):
        check_utf8(value, "filter value")
    return value


def _normalise(field_name: str, value: Any) -> Any:
    """event_time compares as epoch seconds; kinds as their string value."""
    if field_name == "event_time":
        if isinstance(value, datetime):
            from engramdb.core.models import as_utc

            return as_utc(value).timestamp()
        if isinstance(value, str):
            from engramdb.core.timeparse import parse_datetime

            return parse_datetime(value).timestamp()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ValidationError("event_time filters take a datetime, ISO string or epoch seconds")
    if isinstance(value, datetime):
        return value.isoformat()
    return value
