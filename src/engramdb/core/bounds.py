"""Bounds every input is held to, checked without recursion (stdlib only).

JSON nested deeper than :data:`MAX_DEPTH` is refused before anything walks it
recursively (``json.dumps``, the filter parser); integers must fit SQLite's
signed 64 bits; names (scope fields, role, speaker) are short, valid UTF-8.
"""

from __future__ import annotations

import math
from typing import Any

from engramdb.core.errors import ValidationError

MAX_DEPTH = 32  # nesting of metadata, filters and history snapshots (objects and lists)
MAX_NAME_CHARS = 200  # user_id, agent_id, session_id, role, speaker, ids in provenance
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def check_depth(value: Any, what: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise ValidationError when dicts/lists nest deeper than ``max_depth``; iterative."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > max_depth:
            raise ValidationError(f"{what} is nested more than {max_depth} levels deep")
        stack.extend((child, depth + 1) for child in children)


def check_number(value: Any, what: str) -> None:
    """Integers within SQLite's 64-bit range; floats finite. Other values pass."""
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise ValidationError(f"{what}: integer {_short(value)} is outside the 64-bit range SQLite stores")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{what}: {value!r} is not a finite number")


def check_name(value: Any, what: str) -> str:
    """A non-empty string of at most MAX_NAME_CHARS characters, encodable as UTF-8."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_CHARS:
        raise ValidationError(f"{what} must be a non-empty string of at most {MAX_NAME_CHARS} characters")
    check_utf8(value, what)
    return value


def check_utf8(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{what} is not valid UTF-8 (it holds a lone surrogate)") from None


def _short(value: int) -> str:
    digits = len(str(abs(value))) if value.bit_length() < 10_000 else "many"
    return f"with {digits} digits"
