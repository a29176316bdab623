"""Import into the PostgreSQL store: the checks and the plan are restore_plan.py's; this reads
what the database holds for it and writes the plan, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from engramdb.core.models import Action, HistoryEvent, MemoryRecord
from engramdb.core.ports import Keys
from engramdb.stores import pg_erasure as erasure
from engramdb.stores import pg_records as rows
from engramdb.stores.pg_conn import Cursor
from engramdb.stores.pg_sql import COLUMNS
from engramdb.stores.restore_plan import Plan, Stored, plan_restore
from engramdb.stores.sql_common import record_from_row

# writes (record, its vectors, sys_to) versions, in the given order
Insert = Callable[[list[tuple[MemoryRecord, Keys | None, float | None]]], None]


def restore(cur: Cursor, records: Sequence[MemoryRecord], events: Sequence[HistoryEvent],
            vectors: Sequence[Keys | None] | None, insert: Insert) -> set[str]:
    """Check, then write, an import; returns the ids of the memories written."""
    erasure.refuse_erased(cur, [r.id for r in records])
    plan = plan_restore(Stored(lambda ids: _versions(cur, ids), lambda ids: _events(cur, ids)), records, events)
    _close(cur, plan)
    insert([(rec, None if vectors is None else vectors[i], sys_to) for i, rec, sys_to in plan.inserts])
    rows.write_events(cur, [ev for ev in plan.events if ev.action is not Action.DELETE])
    for ev in plan.events:
        if ev.action is Action.DELETE:
            erasure.restore_tombstone(cur, ev)
    return {rec.id for _, rec, _ in plan.inserts}


def _close(cur: Cursor, plan: Plan) -> None:
    for close in plan.closes:
        cur.execute(
            "UPDATE memories SET sys_to = %s, superseded_at = coalesce(%s, superseded_at), "
            "superseded_by = coalesce(%s, superseded_by), valid_to = coalesce(valid_to, %s) "
            "WHERE id = %s AND version = %s AND sys_to IS NULL",
            (close.sys_to, close.superseded_at, close.superseded_by, close.valid_to, close.memory_id, close.version),
        )


def _versions(cur: Cursor, ids: Sequence[str]) -> dict[str, dict[int, tuple[MemoryRecord, float | None]]]:
    out: dict[str, dict[int, tuple[MemoryRecord, float | None]]] = {}
    cur.execute(f"SELECT {COLUMNS}, m.sys_to FROM memories m WHERE m.id = ANY(%s)", (list(ids),))
    for row in cur.fetchall():
        rec = record_from_row(row[:-1])
        out.setdefault(rec.id, {})[rec.version] = (rec, row[-1])
    return out


def _events(cur: Cursor, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    cur.execute("SELECT id, memory_id, action FROM history WHERE id = ANY(%s)", (list(ids),))
    return {eid: (mid, action) for eid, mid, action in cur.fetchall()}
