"""Reconciliation's verdicts as both SQL stores re-check them, under their write lock, in the
transaction that completes the jobs (stores/sqlite_derive.py, stores/pg_derive.py): a verdict
about memories that changed since the stage looked (superseded, merged, gone) does nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engramdb.core.models import MemoryRecord
from engramdb.stores.sql_common import ts


def supersedes(old: MemoryRecord | None, new: MemoryRecord | None) -> bool:
    """``new`` may still supersede ``old``: both current, of one scope, ``old`` not closed yet."""
    return old is not None and new is not None and old.scope == new.scope and old.superseded_at is None


def closing(old: MemoryRecord, new_id: str, valid_to: datetime, now: float) -> tuple[float, dict[str, Any]]:
    """When ``old`` stopped holding (never before it was said) and its state once closed."""
    until = max(ts(valid_to), ts(old.event_time))
    after = {**old.to_dict(), "superseded_at": _dt(now).isoformat(), "superseded_by": new_id,
             "valid_to": _dt(until).isoformat()}
    return until, after


def merged_sources(kept: MemoryRecord | None, dropped: MemoryRecord | None) -> list[str] | None:
    """The provenance ``kept`` has once ``dropped`` is merged into it; None when the merge no
    longer applies (either is gone or changed, or ``dropped`` was added by a caller: what a
    caller added is never merged away)."""
    if kept is None or dropped is None or kept.scope != dropped.scope or kept.id == dropped.id \
            or not dropped.provenance:
        return None
    return list(dict.fromkeys([*kept.provenance, *dropped.provenance]))


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)
