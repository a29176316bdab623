"""Import into the SQLite store: the checks and the plan are restore_plan.py's; this reads what
the file holds for it."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from engramdb.core.models import HistoryEvent, MemoryRecord
from engramdb.stores.restore_plan import Plan, Stored
from engramdb.stores.restore_plan import plan_restore as _plan
from engramdb.stores.sqlite_sql import COLUMNS, record_from_row

_CHUNK = 500  # stays under SQLite's bound-parameter limit


def plan_restore(db: sqlite3.Connection, records: Sequence[MemoryRecord], events: Sequence[HistoryEvent]) -> Plan:
    """Check an import against itself and the store; raise before anything is written."""
    return _plan(Stored(lambda ids: _versions(db, ids), lambda ids: _events(db, ids)), records, events)


def _versions(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, dict[int, tuple[MemoryRecord, float | None]]]:
    out: dict[str, dict[int, tuple[MemoryRecord, float | None]]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start:start + _CHUNK])
        for row in db.execute(
            f"SELECT {COLUMNS}, m.sys_to FROM memories m WHERE m.id IN ({','.join('?' * len(chunk))})", chunk
        ):
            rec = record_from_row(row[:-1])
            out.setdefault(rec.id, {})[rec.version] = (rec, row[-1])
    return out


def _events(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start:start + _CHUNK])
        out.update((eid, (mid, action)) for eid, mid, action in db.execute(
            f"SELECT id, memory_id, action FROM history WHERE id IN ({','.join('?' * len(chunk))})", chunk))
    return out
