"""A stage's derived writes in the PostgreSQL store, in the transaction that completes its jobs:
new derived records (facts, with provenance), supersessions and merges decided by
reconciliation. The rules are SQLite's (stores/sqlite_derive.py, stores/derive_rules.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from psycopg.types.json import Jsonb

from engramdb.core.jobs import JobSpec, StageOutput
from engramdb.core.models import Action, MemoryRecord, Scope
from engramdb.core.ports import Keys
from engramdb.stores import pg_records as rows
from engramdb.stores.derive_rules import closing, merged_sources, supersedes
from engramdb.stores.pg_conn import Cursor
from engramdb.stores.pg_sql import COLUMNS
from engramdb.stores.sql_common import dt, record_from_row


class Writer(Protocol):
    """What PostgresStore lends these writes: its row insert, the queue hook, its erasure."""

    def _insert(self, cur: Cursor, rec: MemoryRecord, keys: Keys | None, model_id: str | None,
                seq: int | None, sys_to: float | None = None) -> int: ...

    def _enqueue_jobs(self, cur: Cursor, jobs: Sequence[JobSpec], now: float) -> None: ...

    def _erase(self, cur: Cursor, ids: Sequence[str], *, untombed: Scope | None = None) -> None: ...


def apply(store: Writer, cur: Cursor, output: StageOutput, held: set[str], now: float) -> None:
    """Called once some of the batch's jobs are still held: the records derived from those,
    then reconciliation's supersessions and merges. A merge's dropped memory is erased (it only
    ever repeated the kept one, whose provenance now names its sources)."""
    added = [r for r in output.records if held.intersection(r.provenance)]
    for rec in added:
        store._insert(cur, rec, None, None, None)
        rows.event(cur, rec.id, Action.ADD, rec.created_at, None, rec.to_dict())
    new_ids = {r.id for r in added}
    store._enqueue_jobs(cur, [j for j in output.jobs if j.memory_id in new_ids], now)
    # the verdicts are re-checked against the current rows here, under the writers' lock
    for s in output.supersede:
        old, new = _current(cur, s.old_id), _current(cur, s.new_id)
        if old is not None and supersedes(old, new):
            valid_to, after = closing(old, s.new_id, s.valid_to, now)
            cur.execute("UPDATE memories SET sys_to = %s, superseded_at = %s, superseded_by = %s, valid_to = %s "
                        "WHERE id = %s AND sys_to IS NULL", (now, now, s.new_id, valid_to, s.old_id))
            rows.event(cur, s.old_id, Action.SUPERSEDE, dt(now), old.to_dict(), after)
    dropped = [m.dropped_id for m in output.merge if _merge(cur, m.kept_id, m.dropped_id, now)]
    if dropped:
        store._erase(cur, dropped)


def _current(cur: Cursor, memory_id: str) -> MemoryRecord | None:
    cur.execute(f"SELECT {COLUMNS} FROM memories m WHERE m.id = %s AND m.sys_to IS NULL", (memory_id,))
    row = cur.fetchone()
    return record_from_row(row) if row is not None else None


def _merge(cur: Cursor, kept_id: str, dropped_id: str, now: float) -> bool:
    kept = _current(cur, kept_id)
    sources = merged_sources(kept, _current(cur, dropped_id))
    if kept is None or sources is None:
        return False
    if sources != list(kept.provenance):
        cur.execute("UPDATE memories SET provenance = %s WHERE id = %s AND sys_to IS NULL RETURNING ref",
                    (Jsonb(sources), kept_id))
        ref = [int(r[0]) for r in cur.fetchall()]
        # the trigger that keeps memory_sources fires on inserts only
        cur.executemany("INSERT INTO memory_sources (ref, source_id) VALUES (%s, %s)",
                        [(r, s) for r in ref for s in sources if s not in kept.provenance])
        rows.event(cur, kept_id, Action.UPDATE, dt(now), kept.to_dict(),
                   {**kept.to_dict(), "provenance": sources, "merged": dropped_id})
    return True
