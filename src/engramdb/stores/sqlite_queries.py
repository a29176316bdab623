"""Read queries of the SQLite store used by retrieval: ranked keyword search, neighbours, facets.

Each takes an open connection (inside the store's read transaction) and the
visibility clause of the read, so scoping is enforced in SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from engramdb.core.ports import Facets, Scored
from engramdb.stores.sqlite_keyword import Ranges, rank_in_ranges

# FTS rows ranked per visible row wanted; past that, the exact join is cheaper
FTS_OVERFETCH = 3
_CHUNK = 500  # stays under SQLite's bound-parameter limit


FTS_TABLES = frozenset({"memories_fts", "windows_fts"})  # both keyed by the rowid of a memories row


def rank_text(db: sqlite3.Connection, match: str, where: str, params: list[Any], limit: int,
              table: str = "memories_fts", ranges: Ranges | None = None) -> list[Scored]:
    """BM25 top ``limit`` visible rows of ``table`` for an FTS5 MATCH expression; with ``ranges``
    (rowid ranges covering the read's scope: sqlite_keyword.py) only rows inside them are ranked."""
    if table not in FTS_TABLES:
        raise ValueError(f"not a full-text table: {table}")
    if ranges:
        return rank_in_ranges(db, match, where, params, limit, table, ranges)
    fast = _rank_text_fast(db, match, where, params, limit, table)
    if fast is not None:
        return fast
    rows = db.execute(
        f"SELECT m.rowid, bm25({table}) AS s FROM {table} "
        f"JOIN memories m ON m.rowid = {table}.rowid "
        f"WHERE {table} MATCH ? AND {where} ORDER BY s, m.rowid LIMIT ?",
        [match, *params, limit],
    ).fetchall()
    return [Scored(int(r[0]), -float(r[1])) for r in rows]


def _rank_text_fast(db: sqlite3.Connection, match: str, where: str, params: list[Any],
                    limit: int, table: str) -> list[Scored] | None:
    """Rank in FTS5 alone (about twice as fast as ranking through the join), over-fetch, then
    keep the visible rows. None when too few survive and more matches exist: the caller then
    ranks through the join, which is exact for any mix of scopes."""
    want = limit * FTS_OVERFETCH
    ranked = db.execute(
        f"SELECT rowid, bm25({table}) AS s FROM {table} WHERE {table} MATCH ? "
        "ORDER BY s, rowid LIMIT ?", [match, want],
    ).fetchall()
    if not ranked:
        return []
    visible_rows = visible(db, [int(r[0]) for r in ranked], where, params)
    kept = [Scored(int(r[0]), -float(r[1])) for r in ranked if int(r[0]) in visible_rows]
    if len(kept) >= limit or len(ranked) < want:
        return kept[:limit]
    return None


def visible(db: sqlite3.Connection, refs: Sequence[int], where: str, params: list[Any]) -> set[int]:
    """The subset of ``refs`` that the read's visibility clause admits."""
    out: set[int] = set()
    for start in range(0, len(refs), _CHUNK):
        chunk = list(refs[start:start + _CHUNK])
        out.update(int(r[0]) for r in db.execute(
            f"SELECT m.rowid FROM memories m WHERE m.rowid IN ({','.join('?' * len(chunk))}) AND {where}",
            [*chunk, *params]))
    return out


def window_members(db: sqlite3.Connection, refs: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """The member rowids of the windows keyed by ``refs`` (each window's last turn)."""
    out: dict[int, tuple[int, ...]] = {}
    for start in range(0, len(refs), _CHUNK):
        chunk = list(refs[start:start + _CHUNK])
        for rowid, members in db.execute(
            f"SELECT rowid, members FROM windows_fts WHERE rowid IN ({','.join('?' * len(chunk))})", chunk
        ):
            out[int(rowid)] = tuple(int(m) for m in str(members).split())
    return out


def adjacent(db: sqlite3.Connection, refs: Sequence[int], where: str, params: list[Any],
             width: int) -> dict[int, list[tuple[int, int]]]:
    """(neighbour, offset) of up to ``width`` visible rows before and after each ref in its session."""
    out: dict[int, list[tuple[int, int]]] = {}
    for ref, session, when, memory_id in _sessions(db, refs):
        # a session's order is (event_time, id), as for its windows: ids are ULIDs, monotonic in
        # creation order, and an update keeps the id, so an updated turn keeps its neighbours
        prev = db.execute(
            f"SELECT m.rowid FROM memories m WHERE m.session_id = ? AND (m.event_time, m.id) < (?, ?) AND {where} "
            "ORDER BY m.event_time DESC, m.id DESC LIMIT ?", [session, when, memory_id, *params, width]).fetchall()
        nxt = db.execute(
            f"SELECT m.rowid FROM memories m WHERE m.session_id = ? AND (m.event_time, m.id) > (?, ?) AND {where} "
            "ORDER BY m.event_time, m.id LIMIT ?", [session, when, memory_id, *params, width]).fetchall()
        out[ref] = [(int(r[0]), -(i + 1)) for i, r in enumerate(prev)] + \
            [(int(r[0]), i + 1) for i, r in enumerate(nxt)]
    return out


def facets(db: sqlite3.Connection, refs: Sequence[int]) -> dict[int, Facets]:
    out: dict[int, Facets] = {}
    for start in range(0, len(refs), _CHUNK):
        chunk = list(refs[start:start + _CHUNK])
        for rowid, session, speaker, when, role in db.execute(
            "SELECT rowid, session_id, speaker, event_time, role FROM memories "
            f"WHERE rowid IN ({','.join('?' * len(chunk))})", chunk,
        ):
            out[int(rowid)] = Facets(session, speaker, datetime.fromtimestamp(when, tz=UTC), role)
    return out


def _sessions(db: sqlite3.Connection, refs: Sequence[int]) -> list[tuple[int, str, float, str]]:
    found: list[tuple[int, str, float, str]] = []
    for start in range(0, len(refs), _CHUNK):
        chunk = list(refs[start:start + _CHUNK])
        found += [(int(r[0]), str(r[1]), float(r[2]), str(r[3])) for r in db.execute(
            f"SELECT rowid, session_id, event_time, id FROM memories WHERE rowid IN ({','.join('?' * len(chunk))}) "
            "AND session_id IS NOT NULL", chunk)]
    return found
