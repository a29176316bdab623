"""A stage's derived writes, in the transaction that completes its jobs: new derived records
(facts, with provenance), supersessions and merges decided by reconciliation."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any, Protocol

from engramdb.core.jobs import StageOutput
from engramdb.core.models import Action, MemoryRecord
from engramdb.core.ports import Keys
from engramdb.stores import sqlite_erasure as erasure
from engramdb.stores import sqlite_jobs as queue
from engramdb.stores.derive_rules import closing, merged_sources, supersedes
from engramdb.stores.sqlite_sql import COLUMNS, dt, record_from_row


class Writer(Protocol):
    def _insert(self, db: sqlite3.Connection, rec: MemoryRecord, sys_to: float | None,
                vector: Keys | None, model_id: str | None, seq: int | None) -> None: ...

    def _event(self, db: sqlite3.Connection, memory_id: str, action: Action, at: Any,
               before: dict[str, Any] | None, after: dict[str, Any] | None) -> None: ...


def apply(store: Writer, db: sqlite3.Connection, output: StageOutput, held: set[str], now: float) -> None:
    """Called once some of the batch's jobs are still held: the records derived from those,
    then reconciliation's supersessions and merges. A merge's dropped memory is erased (it only
    ever repeated the kept one, whose provenance now names its sources)."""
    added = [r for r in output.records if held.intersection(r.provenance)]
    for rec in added:
        store._insert(db, rec, None, None, None, None)
        store._event(db, rec.id, Action.ADD, rec.created_at, None, rec.to_dict())
    new_ids = {r.id for r in added}
    queue.enqueue(db, [j for j in output.jobs if j.memory_id in new_ids], now)
    # reconciliation's verdicts are re-checked against the current rows here, under the write
    # lock: one about facts that changed since (superseded, merged, gone) does nothing
    for s in output.supersede:
        _supersede(store, db, s.old_id, s.new_id, s.valid_to, now)
    dropped = []
    for m in output.merge:
        if _merge(store, db, m.kept_id, m.dropped_id, now):
            dropped.append(m.dropped_id)
    if dropped:
        erasure.erase(db, dropped)
        queue.forget(db, dropped)


def _current(db: sqlite3.Connection, memory_id: str) -> MemoryRecord | None:
    row = db.execute(f"SELECT {COLUMNS} FROM memories m WHERE m.id = ? AND m.sys_to IS NULL", (memory_id,)).fetchone()
    return record_from_row(row) if row is not None else None


def _supersede(store: Writer, db: sqlite3.Connection, old_id: str, new_id: str, valid_to: datetime,
               now: float) -> None:
    old, new = _current(db, old_id), _current(db, new_id)
    if old is None or not supersedes(old, new):
        return  # changed or gone since the stage looked: nothing to reconcile any more
    until, after = closing(old, new_id, valid_to, now)
    db.execute("UPDATE memories SET sys_to = ?, superseded_at = ?, superseded_by = ?, valid_to = ? "
               "WHERE id = ? AND sys_to IS NULL", (now, now, new_id, until, old_id))
    store._event(db, old_id, Action.SUPERSEDE, dt(now), old.to_dict(), after)


def _merge(store: Writer, db: sqlite3.Connection, kept_id: str, dropped_id: str, now: float) -> bool:
    kept = _current(db, kept_id)
    sources = merged_sources(kept, _current(db, dropped_id))
    if kept is None or sources is None:
        return False
    if sources != list(kept.provenance):
        rowid = db.execute("SELECT rowid FROM memories WHERE id = ? AND sys_to IS NULL", (kept_id,)).fetchone()[0]
        db.execute("UPDATE memories SET provenance = ? WHERE rowid = ?", (json.dumps(sources), rowid))
        db.executemany("INSERT INTO memory_sources (ref, source_id) VALUES (?, ?)",
                       [(rowid, s) for s in sources if s not in kept.provenance])
        store._event(db, kept_id, Action.UPDATE, dt(now), kept.to_dict(),
                     {**kept.to_dict(), "provenance": sources, "merged": dropped_id})
    return True
