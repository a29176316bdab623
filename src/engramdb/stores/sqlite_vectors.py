"""Vector reads of the SQLite store: exact cosine over turns and over episode windows.

Each (scope, model) keeps its matrix in an in-process cache that grows with
new rowids and is rebuilt when ``meta.mutation_seq`` changes (see
vector_index.py). Filtered reads reuse the scope's matrix with a mask from a
rowid-only query; ``as_of`` reads load their own matrix. Scopes past the ANN tier's threshold
read their dense lists from an HNSW index instead of a full scan (ann_index.py).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from engramdb.core.ports import ReadSpec, Scored, ScoredList, Vector
from engramdb.stores.ann_index import AnnTier
from engramdb.stores.sqlite_sql import visibility_clause
from engramdb.stores.time_filter import time_mask
from engramdb.stores.vector_index import Group, ScopeMatrix, VectorCache, best_of, cosines, from_blob

Mask = npt.NDArray[np.bool_]
CacheKey = tuple[object, ...]
WINDOW_FANOUT = 3  # the ANN's turn candidates per window wanted: their windows are scored exactly


class VectorReads:
    def __init__(self, ann: AnnTier | None = None) -> None:
        self.ann = ann
        self._cache = VectorCache()
        self._last_scan = threading.local()
        # reads run on several connections at once: a cached scope is extended by one at a time
        self._lock = threading.Lock()

    def turns(self, db: sqlite3.Connection, spec: ReadSpec, query: Vector, model_id: str,
              limit: int) -> ScoredList:
        with self._lock:
            return self._turns(db, spec, query, model_id, limit)

    def _turns(self, db: sqlite3.Connection, spec: ReadSpec, query: Vector, model_id: str,
               limit: int) -> ScoredList:
        entry, allowed, key = self._scope(db, spec, model_id, query.shape[0])
        if self.ann is not None and key is not None:
            found = self.ann.turns(key, entry, query, limit, allowed)
            if found is not None:
                return [Scored(int(entry.rowids[i]), float(v)) for i, v in zip(*found, strict=True)]
        scores = self._cosines(entry, query)
        if allowed is not None:
            scores = np.where(allowed, scores, np.float32(-np.inf))
        idx, best = best_of(scores, limit)
        return [Scored(int(entry.rowids[i]), float(v)) for i, v in zip(idx, best, strict=True)]

    def keys(self, db: sqlite3.Connection, spec: ReadSpec, refs: Sequence[int], query: Vector,
             model_id: str) -> ScoredList:
        """Candidates scored by the best of their whole-text vector and their sentence keys. Only
        the candidates' BLOBs are read: keys re-score what the other lists found (measured: as
        good as scanning every key of the scope), so they need no place in the scan cache."""
        if not refs:
            return []
        where, params = visibility_clause(spec)
        rows = db.execute(
            f"SELECT m.rowid, m.embedding FROM memories m WHERE m.rowid IN ({','.join('?' * len(refs))}) "
            f"AND {where} AND m.embed_model = ?",
            [*refs, *params, model_id],
        ).fetchall()
        dim = int(query.shape[0])
        found = [(int(rowid), blob) for rowid, blob in rows if from_blob(blob, dim) is not None]
        if not found:
            return []
        # one product over every candidate's rows, then the best row of each candidate
        sizes = np.asarray([len(blob) // (4 * dim) for _, blob in found], np.int64)
        stacked = np.frombuffer(b"".join(blob for _, blob in found), dtype=np.float32).reshape(-1, dim)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        best = np.maximum.reduceat(stacked @ query, starts)
        scored = [Scored(rowid, float(v)) for (rowid, _), v in zip(found, best, strict=True)]
        return sorted(scored, key=lambda s: (-s.score, s.ref))

    def windows(self, db: sqlite3.Connection, spec: ReadSpec, query: Vector, model_id: str,
                limit: int) -> ScoredList:
        """Turns scored by the best of the ``limit`` best window cosines that contain them."""
        with self._lock:
            return self._windows(db, spec, query, model_id, limit)

    def _windows(self, db: sqlite3.Connection, spec: ReadSpec, query: Vector, model_id: str,
                 limit: int) -> ScoredList:
        entry, allowed, key = self._scope(db, spec, model_id, query.shape[0])
        if not entry.matrix.shape[0]:
            return []
        near = None
        if self.ann is not None and key is not None and allowed is None:
            near = self.ann.candidates(key, entry, query, limit * WINDOW_FANOUT)
        if near is not None:
            # the windows holding the graph's best turns, scored exactly (no full scan)
            rows = entry.windows_holding(near)
            scores = entry.window_scores_at(rows, query)
            if allowed is not None:
                scores = np.where(allowed[rows], scores, np.float32(-np.inf))
            idx, best = best_of(scores, limit)
            return _members(entry, rows[idx], best, allowed)
        scores = entry.window_scores(self._cosines(entry, query))
        if allowed is not None:
            scores = np.where(allowed, scores, np.float32(-np.inf))
        idx, best = best_of(scores, limit)
        return _members(entry, idx.astype(np.int64), best, allowed)

    def _cosines(self, entry: ScopeMatrix, query: Vector) -> npt.NDArray[np.float32]:
        """Cosines of the query with every row; the last result is reused (per thread), since a
        search asks for turns and for windows of the same scope with the same query."""
        key = (id(entry), entry.matrix.shape[0], query.tobytes())
        last = getattr(self._last_scan, "value", None)
        if last is not None and last[0] == key and last[1] is entry:
            return last[2]  # type: ignore[no-any-return]
        scores = cosines(entry.matrix, query) if entry.matrix.shape[0] else np.empty(0, np.float32)
        self._last_scan.value = (key, entry, scores)
        return scores

    def _scope(self, db: sqlite3.Connection, spec: ReadSpec, model_id: str,
               dim: int) -> tuple[ScopeMatrix, Mask | None, CacheKey | None]:
        """The scope's vectors, for a filtered read which of them the filters admit, and the key of
        the cached scope (None for a read of the past, which loads its own matrix)."""
        if spec.as_of is not None or spec.valid_at is not None:
            entry = ScopeMatrix(0, 0, np.empty(0, np.int64), np.empty((0, dim), np.float32))
            _append_rows(db, entry, spec, model_id, dim)
            return entry, None, None
        base = ReadSpec(spec.scope, include_superseded=spec.include_superseded, include_archived=spec.include_archived)
        key = (tuple(spec.scope.items()), model_id, spec.include_superseded, spec.include_archived)
        seq = int(db.execute("SELECT value FROM meta WHERE key = 'mutation_seq'").fetchone()[0])
        entry = self._cache.get(key, seq, dim)
        _append_rows(db, entry, base, model_id, dim)
        if not spec.kinds and (spec.at is None or not _any_expiring(db)):
            if spec.filters is None:
                return entry, None, key
            # a dated question's window: evaluated over the rows' event times, not asked of SQL
            mask = time_mask(spec.filters, entry.times)
            if mask is not None:
                return entry, mask, key
        where, params = visibility_clause(spec)
        admitted = np.asarray([r[0] for r in db.execute(f"SELECT m.rowid FROM memories m WHERE {where}", params)],
                              dtype=np.int64)
        return entry, np.isin(entry.rowids, admitted), key


def _members(entry: ScopeMatrix, windows: npt.NDArray[np.int64], values: npt.NDArray[np.float32],
             allowed: Mask | None) -> ScoredList:
    """Each turn of the given windows, scored by the best window holding it."""
    out: dict[int, float] = {}
    for i, value in zip(windows, values, strict=True):
        for pos in entry.members[i]:
            if pos >= 0 and (allowed is None or allowed[pos]):
                ref = int(entry.rowids[pos])
                out[ref] = max(out.get(ref, -np.inf), float(value))
    return [Scored(ref, value) for ref, value in sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))]


def _append_rows(db: sqlite3.Connection, entry: ScopeMatrix, spec: ReadSpec, model_id: str, dim: int) -> None:
    """Add the visible rows embedded after the entry's last embed_seq, with each turn's place in
    its session. Nothing is read when no vector was written since (meta.embed_seq unchanged)."""
    latest = int(db.execute("SELECT value FROM meta WHERE key = 'embed_seq'").fetchone()[0])
    if latest <= entry.max_seq:
        return
    where, params = visibility_clause(spec)
    # only the whole-text vector: a BLOB's sentence keys follow it (see Keys in core/ports.py);
    # a BLOB that is not made of dim-wide rows is left out, as from_blob leaves it out of key reads
    rows = db.execute(
        f"SELECT m.rowid, substr(m.embedding, 1, ?), m.kind, m.user_id, m.agent_id, m.session_id, "
        f"m.event_time, m.id, m.embed_seq FROM memories m "
        f"WHERE {where} AND m.embed_seq > ? AND m.embed_seq <= ? AND m.embed_model = ? "
        f"AND length(m.embedding) % ? = 0 ORDER BY m.embed_seq, m.rowid",
        [4 * dim, *params, entry.max_seq, latest, model_id, 4 * dim],
    ).fetchall()
    groups: list[Group] = [(r[3], r[4], r[5]) if r[2] == "turn" and r[5] is not None else None for r in rows]
    entry.append([r[0] for r in rows], [r[1] for r in rows], dim, groups,
                 [(float(r[6]), str(r[7])) for r in rows], seq=latest, seqs=[int(r[8]) for r in rows])


def _any_expiring(db: sqlite3.Connection) -> bool:
    """Whether any memory carries an expiry (then the cached scope needs a mask); one probe of
    a partial index."""
    return db.execute("SELECT 1 FROM memories WHERE expires_at IS NOT NULL LIMIT 1").fetchone() is not None
