"""Retention in the SQLite store: recall statistics, archiving and the erasure of expired memories.

The columns come from migration 0007. A recall is one UPDATE of two plain columns: no version,
no history event, no trigger (the text and window triggers fire on other columns), and
``meta.mutation_seq`` is left alone, so the vector caches stay valid. Archiving and restoring
change what reads see, so they bump it.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from engramdb.core.models import Kind, Records, Scope
from engramdb.core.ports import ReadSpec, RecallStats
from engramdb.stores import sqlite_erasure as erasure
from engramdb.stores import sqlite_jobs as queue
from engramdb.stores.ann_index import AnnTier
from engramdb.stores.sqlite_conn import Connection
from engramdb.stores.sqlite_sql import COLUMNS, dt, record_from_row, scope_clause, ts, visibility_clause

CHUNK = 500  # stays under SQLite's bound-parameter limit
# a number in metadata.importance, else NULL (a JSON true would read as 1 through json_extract)
_IMPORTANCE = ("CASE WHEN json_type(m.metadata, '$.importance') IN ('integer', 'real') "
               "THEN json_extract(m.metadata, '$.importance') END")
_STATS = f"m.rowid, m.id, m.kind, m.sys_from, m.last_recalled_at, m.recall_count, {_IMPORTANCE}"


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _stats(row: tuple[int, str, str, float, float | None, int, float | None]) -> RecallStats:
    ref, mid, kind, written, last, recalls, importance = row
    when = dt(written)
    assert when is not None
    return RecallStats(int(ref), mid, Kind(kind), when, dt(last), int(recalls),
                       None if importance is None else float(importance))


def _bump(db: sqlite3.Connection) -> None:
    db.execute("UPDATE meta SET value = value + 1 WHERE key = 'mutation_seq'")


class RetentionMethods:
    """Mixed into SQLiteStore: the retention half of the Store port."""

    conn: Connection
    ann: AnnTier

    def record_recalls(self, memory_ids: Sequence[str], at: datetime, *, count: int = 1) -> int:
        ids = list(dict.fromkeys(memory_ids))
        if not ids:
            return 0
        changed = 0
        with self.conn.write() as db:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start:start + CHUNK]
                changed += db.execute(
                    "UPDATE memories SET recall_count = recall_count + ?, last_recalled_at = max(coalesce("
                    f"last_recalled_at, ?), ?) WHERE id IN ({_marks(len(chunk))}) AND sys_to IS NULL",
                    [count, ts(at), ts(at), *chunk]).rowcount
        return changed

    def recall_stats(self, refs: Sequence[int]) -> dict[int, RecallStats]:
        out: dict[int, RecallStats] = {}
        with self.conn.read() as db:
            for start in range(0, len(refs), CHUNK):
                chunk = list(refs[start:start + CHUNK])
                rows = db.execute(f"SELECT {_STATS} FROM memories m WHERE m.rowid IN ({_marks(len(chunk))})", chunk)
                out.update((int(r[0]), _stats(r)) for r in rows)
        return out

    def retention_scan(self, kinds: Sequence[Kind], *, after_ref: int, limit: int) -> builtins.list[RecallStats]:
        if not kinds or limit <= 0:
            return []
        with self.conn.read() as db:
            rows = db.execute(
                f"SELECT {_STATS} FROM memories m WHERE m.rowid > ? AND m.sys_to IS NULL AND m.archived_at IS NULL "
                f"AND m.superseded_at IS NULL AND m.kind IN ({_marks(len(kinds))}) ORDER BY m.rowid LIMIT ?",
                [after_ref, *(k.value for k in kinds), limit]).fetchall()
        return [_stats(r) for r in rows]

    def archive(self, memory_ids: Sequence[str], at: datetime) -> int:
        return self._set_archived(memory_ids, "archived_at = ?", [ts(at)], "m.archived_at IS NULL", ("1", []))

    def unarchive(self, memory_ids: Sequence[str], at: datetime, scope: Scope | None = None) -> int:
        owner = scope_clause(scope) if scope is not None else ("1", [])
        return self._set_archived(memory_ids, "archived_at = NULL, last_recalled_at = max(coalesce(last_recalled_at, "
                                  "?), ?)", [ts(at), ts(at)], "m.archived_at IS NOT NULL", owner)

    def _set_archived(self, memory_ids: Sequence[str], change: str, values: list[object], state: str,
                      owner: tuple[str, list[object]]) -> int:
        ids = list(dict.fromkeys(memory_ids))
        changed = 0
        with self.conn.write() as db:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start:start + CHUNK]
                changed += db.execute(
                    f"UPDATE memories AS m SET {change} WHERE m.id IN ({_marks(len(chunk))}) "
                    f"AND m.sys_to IS NULL AND {state} AND {owner[0]}", [*values, *chunk, *owner[1]]).rowcount
            if changed:
                _bump(db)  # rows enter or leave what reads see: the vector caches rebuild
        return changed

    def list_archived(self, spec: ReadSpec, *, limit: int = 100, offset: int = 0) -> Records:
        where, params = visibility_clause(ReadSpec(spec.scope, filters=spec.filters, kinds=spec.kinds, at=spec.at,
                                                   include_archived=True))
        sql = (f"SELECT {COLUMNS} FROM memories m WHERE {where} AND m.archived_at IS NOT NULL "
               "ORDER BY m.archived_at DESC, m.id LIMIT ? OFFSET ?")
        with self.conn.read() as db:
            return [record_from_row(r) for r in db.execute(sql, [*params, limit, offset])]

    def expired(self, at: datetime, limit: int) -> builtins.list[str]:
        if limit <= 0:
            return []
        with self.conn.read() as db:
            # the latest version of each memory decides (superseded or not)
            rows = db.execute(
                "SELECT id FROM memories WHERE expires_at IS NOT NULL AND expires_at <= ? "
                "AND (sys_to IS NULL OR superseded_at IS NOT NULL) GROUP BY id ORDER BY min(expires_at), id LIMIT ?",
                (ts(at), limit)).fetchall()
        return [r[0] for r in rows]

    def erase(self, memory_ids: Sequence[str]) -> builtins.list[str]:
        wanted = list(dict.fromkeys(memory_ids))
        if not wanted:
            return []
        with self.conn.write() as db:
            present: list[str] = []
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start:start + CHUNK]
                present += [r[0] for r in db.execute(
                    f"SELECT DISTINCT id FROM memories WHERE id IN ({_marks(len(chunk))})", chunk)]
            gone = erasure.closure(db, present)
            rowids = erasure.erase(db, gone)
            queue.forget(db, gone)
            if gone:
                _bump(db)
        if gone:
            self.conn.checkpoint()  # the WAL keeps no page image of what was erased
            self.ann.erased(rowids)  # nor does the ANN index beside the database
        return gone
