"""The keyword plan of the SQLite store: BM25 over a scope's rowid ranges instead of the whole index.

The FTS5 indexes (turns, episode windows) are global to the file, and FTS5 can restrict a MATCH
only by rowid ranges. BM25's cost is per matching row (its statistics, document counts per
term, are one cheap pass over each term's doclist), so ranking every matching row of a file
of 100 users to keep one user's was most of a search's time. A scope whose rows sit in a few
rowid ranges (one import per user, sessions written together) is ranked inside those ranges
only: one ``rowid BETWEEN`` arm per range, joined to ``memories`` for the read's visibility
clause, so the answer is exactly the global plan's (the ranges cover every row of the scope;
rows of other scopes inside them are filtered out, and BM25's statistics are the file's in
both plans). A scope that is big, or spread over the file (live writes interleaving many
users), keeps the global plan (sqlite_queries.rank_text).

Ranges come from the scope's rowids (cached per scope; new rows are appended, a change of
``mutation_seq`` reads them again): the ``MAX_ARMS - 1`` largest gaps split them, and the plan
is used when the ranges span at most ``MAX_SHARE`` of the file's rows.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from engramdb.core.models import Scope
from engramdb.core.ports import Scored
from engramdb.stores.sqlite_sql import scope_clause

MAX_ROWS = 20_000  # bigger scopes are ranked by the global plan (which they mostly fill anyway)
MAX_ARMS = 8  # rowid ranges per query: each arm repeats BM25's per-term statistics pass
MAX_SHARE = 0.5  # the ranges may span at most this share of the file's rowids
MIN_GAP = 64  # rowids between two ranges worth another arm (fewer: ranking them is cheaper)
SCOPE_FIRST = True  # False: always the global plan (benchmarks time both in one run)
Ranges = list[tuple[int, int]]


@dataclass
class _Rows:
    mutation_seq: int
    max_rowid: int
    rowids: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    big: bool = False
    ranges: Ranges | None = None


class ScopeRanges:
    """Per-scope rowid ranges of one store, shared by its read connections."""

    def __init__(self, max_entries: int = 256) -> None:
        self._entries: dict[tuple[object, ...], _Rows] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def ranges(self, db: sqlite3.Connection, scope: Scope) -> Ranges | None:
        """The rowid ranges covering every row of ``scope``; None: use the global plan."""
        if not SCOPE_FIRST:
            return None
        seq = int(db.execute("SELECT value FROM meta WHERE key = 'mutation_seq'").fetchone()[0])
        top = int(db.execute("SELECT coalesce(max(rowid), 0) FROM memories").fetchone()[0])
        key = tuple(scope.items())
        with self._lock:
            rows = self._entries.get(key)
            if rows is None or rows.mutation_seq != seq:
                rows = _Rows(seq, 0)
                if len(self._entries) >= self._max:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[key] = rows
            if rows.big:
                return None
            if top > rows.max_rowid:
                _extend(db, scope, rows, top)
            if rows.big or not len(rows.rowids):
                return None
            if rows.ranges is None:
                rows.ranges = split(rows.rowids, MAX_ARMS)
            span = sum(hi - lo + 1 for lo, hi in rows.ranges)
            return rows.ranges if span <= MAX_SHARE * top else None


def _extend(db: sqlite3.Connection, scope: Scope, rows: _Rows, top: int) -> None:
    where, params = scope_clause(scope)
    new = [r[0] for r in db.execute(
        f"SELECT m.rowid FROM memories m WHERE {where} AND m.rowid > ? AND m.rowid <= ? LIMIT ?",
        [*params, rows.max_rowid, top, MAX_ROWS + 1])]
    rows.max_rowid = top
    if len(rows.rowids) + len(new) > MAX_ROWS:
        rows.big, rows.rowids = True, np.empty(0, np.int64)
        return
    if new:
        rows.rowids = np.union1d(rows.rowids, np.asarray(new, np.int64))
        rows.ranges = None


def split(rowids: npt.NDArray[np.int64], arms: int) -> Ranges:
    """Sorted rowids as at most ``arms`` ranges, cut at the largest gaps (least span) wider than
    MIN_GAP."""
    if len(rowids) == 0:
        return []
    gaps = np.diff(rowids)
    cuts = np.sort(np.argsort(-gaps, kind="stable")[:arms - 1]) if len(gaps) else np.empty(0, np.int64)
    cuts = cuts[gaps[cuts] > MIN_GAP]
    starts = np.concatenate([[0], cuts + 1])
    ends = np.concatenate([cuts, [len(rowids) - 1]])
    return [(int(rowids[a]), int(rowids[b])) for a, b in zip(starts, ends, strict=True)]


def rank_in_ranges(db: sqlite3.Connection, match: str, where: str, params: list[Any], limit: int, table: str,
                   ranges: Ranges) -> list[Scored]:
    """BM25 top ``limit`` visible rows of ``table`` inside ``ranges`` (one arm per range)."""
    arms = " UNION ALL ".join(
        f"SELECT {table}.rowid AS r, bm25({table}) AS s FROM {table} JOIN memories m ON m.rowid = {table}.rowid "
        f"WHERE {table} MATCH ? AND {table}.rowid BETWEEN ? AND ? AND {where}" for _ in ranges)
    args: list[Any] = []
    for lo, hi in ranges:
        args += [match, lo, hi, *params]
    rows = db.execute(f"SELECT r, s FROM ({arms}) ORDER BY s, r LIMIT ?", [*args, limit]).fetchall()
    return [Scored(int(r[0]), -float(r[1])) for r in rows]
