"""Retention in the PostgreSQL store: recall statistics and archiving (SQLite's rules, see
stores/sqlite_retention.py; the columns are in migration 0001; erasure is the record side's).

A recall is one UPDATE of two plain columns: no version, no history event, no index entry, and
``meta.mutation_seq`` is left alone, so the vector caches stay valid. Archiving and restoring
change what reads see, so they bump it. Each is a write of the store's writers (one at a
time, as in SQLite): rows are never locked by two of them at once, so none can deadlock.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from engramdb.core.models import Kind, Records, Scope
from engramdb.core.ports import ReadSpec, RecallStats
from engramdb.stores import pg_records as rows
from engramdb.stores.pg_conn import Connection
from engramdb.stores.pg_sql import COLUMNS, scope_clause, visibility_clause
from engramdb.stores.sql_common import dt, record_from_row, ts

# a number in metadata.importance, else NULL (a JSON true is no importance)
_IMPORTANCE = ("CASE WHEN jsonb_typeof(m.metadata -> 'importance') = 'number' "
               "THEN (m.metadata ->> 'importance')::float8 END")
_STATS = f"m.ref, m.id, m.kind, m.sys_from, m.last_recalled_at, m.recall_count, {_IMPORTANCE}"


def _stats(row: Sequence[Any]) -> RecallStats:
    ref, mid, kind, written, last, recalls, importance = row
    when = dt(written)
    assert when is not None
    return RecallStats(int(ref), mid, Kind(kind), when, dt(last), int(recalls),
                       None if importance is None else float(importance))


class PgRetentionMethods:
    """Mixed into PostgresStore: the retention half of the Store port."""

    conn: Connection

    def record_recalls(self, memory_ids: Sequence[str], at: datetime, *, count: int = 1) -> int:
        ids = list(dict.fromkeys(memory_ids))
        if not ids:
            return 0
        with self.conn.write() as cur:
            cur.execute("UPDATE memories SET recall_count = recall_count + %s, last_recalled_at = "
                        "greatest(coalesce(last_recalled_at, %s), %s) WHERE id = ANY(%s) AND sys_to IS NULL",
                        (count, ts(at), ts(at), ids))
            return int(cur.rowcount)

    def recall_stats(self, refs: Sequence[int]) -> dict[int, RecallStats]:
        if not refs:
            return {}
        with self.conn.read() as cur:
            cur.execute(f"SELECT {_STATS} FROM memories m WHERE m.ref = ANY(%s)", ([int(r) for r in refs],))
            return {int(r[0]): _stats(r) for r in cur.fetchall()}

    def retention_scan(self, kinds: Sequence[Kind], *, after_ref: int, limit: int) -> builtins.list[RecallStats]:
        if not kinds or limit <= 0:
            return []
        with self.conn.read() as cur:
            cur.execute(f"SELECT {_STATS} FROM memories m WHERE m.ref > %s AND m.sys_to IS NULL "
                        "AND m.archived_at IS NULL AND m.superseded_at IS NULL AND m.kind = ANY(%s) "
                        "ORDER BY m.ref LIMIT %s", (after_ref, [k.value for k in kinds], limit))
            return [_stats(r) for r in cur.fetchall()]

    def archive(self, memory_ids: Sequence[str], at: datetime) -> int:
        return self._set_archived(memory_ids, "archived_at = %s", [ts(at)], "m.archived_at IS NULL", None)

    def unarchive(self, memory_ids: Sequence[str], at: datetime, scope: Scope | None = None) -> int:
        return self._set_archived(memory_ids, "archived_at = NULL, last_recalled_at = greatest(coalesce("
                                  "m.last_recalled_at, %s), %s)", [ts(at), ts(at)], "m.archived_at IS NOT NULL",
                                  scope)

    def _set_archived(self, memory_ids: Sequence[str], change: str, values: list[object], state: str,
                      scope: Scope | None) -> int:
        ids = list(dict.fromkeys(memory_ids))
        if not ids:
            return 0
        owner, params = scope_clause(scope) if scope is not None else ("TRUE", [])
        with self.conn.write() as cur:
            cur.execute(f"UPDATE memories AS m SET {change} WHERE m.id = ANY(%s) AND m.sys_to IS NULL "
                        f"AND {state} AND {owner}", [*values, ids, *params])
            changed = int(cur.rowcount)
            if changed:
                rows.bump(cur)  # rows enter or leave what reads see: the vector caches rebuild
        return changed

    def list_archived(self, spec: ReadSpec, *, limit: int = 100, offset: int = 0) -> Records:
        where, params = visibility_clause(ReadSpec(spec.scope, filters=spec.filters, kinds=spec.kinds, at=spec.at,
                                                   include_archived=True))
        with self.conn.read() as cur:
            cur.execute(f"SELECT {COLUMNS} FROM memories m WHERE {where} AND m.archived_at IS NOT NULL "
                        "ORDER BY m.archived_at DESC, m.id COLLATE \"C\" LIMIT %s OFFSET %s", [*params, limit, offset])
            return [record_from_row(r) for r in cur.fetchall()]

    def expired(self, at: datetime, limit: int) -> builtins.list[str]:
        if limit <= 0:
            return []
        with self.conn.read() as cur:
            # the latest version of each memory decides (superseded or not)
            cur.execute("SELECT id FROM memories WHERE expires_at IS NOT NULL AND expires_at <= %s "
                        "AND (sys_to IS NULL OR superseded_at IS NOT NULL) GROUP BY id "
                        "ORDER BY min(expires_at), id COLLATE \"C\" LIMIT %s", (ts(at), limit))
            return [r[0] for r in cur.fetchall()]
