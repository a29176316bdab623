"""Exact in-process vector scan with an incremental per-scope cache.

Vectors live in the database as float32 BLOBs. Scanning N x d with numpy is
exact and fast (100k x 384 in a few ms); what is slow is fetching the BLOBs,
so each (scope, model) keeps its matrix in memory and only appends rows
inserted since. Any write that changes visibility bumps ``mutation_seq``,
which invalidates the cached matrices (also for writes by other processes).
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left, insort
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from engramdb.core.ports import Keys, Matrix, Vector

WINDOW_TURNS = 3  # a dense window: a turn and the two turns before it in its session
Group = tuple[object, ...] | None  # (user, agent, session) of a conversational turn; None: no window
OrderKey = tuple[float, str]  # a turn's place in its session: (event_time, id)
VECTOR_CACHE_MB = 512  # cached scope matrices (a 100k scope of 384-d vectors: ~160 MB)
ENV_CACHE_MB = "ENGRAM_VECTOR_CACHE_MB"
_ROW_OVERHEAD = 120  # bytes a row costs beside its arrays (its place in the session lists)


@dataclass
class ScopeMatrix:
    """The vectors of one scope in rowid order, plus the episode windows over them.

    A turn's window is the turn and the ``WINDOW_TURNS - 1`` turns before it in
    its session (among these rows), in the session's order: (event_time, id),
    the order of the keyword windows, whatever order the rows were written in.
    Its vector is the normalised sum of theirs, so a window's cosine is the sum
    of its members' cosines divided by a norm kept here: windows cost no model
    call and no second matrix.
    """

    mutation_seq: int
    max_seq: int  # the highest embed_seq among the rows (rows are appended in embed_seq order)
    rowids: npt.NDArray[np.int64]
    matrix: Matrix
    members: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty((0, WINDOW_TURNS), np.int64))
    norms: npt.NDArray[np.float32] = field(default_factory=lambda: np.empty(0, np.float32))
    sessions: dict[object, list[tuple[OrderKey, int]]] = field(default_factory=dict)
    seqs: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))  # each row's embed_seq
    # each row's event_time (NaN where appended without one): event-time filters (time_filter.py)
    times: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0, np.float64))
    # which windows hold each row (built on demand for the ANN tier; None after an append)
    _holders: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None

    def nbytes(self) -> int:
        """About what the entry holds in memory."""
        arrays = (self.rowids, self.matrix, self.members, self.norms, self.seqs, self.times)
        return sum(int(a.nbytes) for a in arrays) + _ROW_OVERHEAD * len(self.rowids)

    def append(self, rowids: list[int], blobs: list[bytes], dim: int, groups: list[Group] | None = None,
               order: list[OrderKey] | None = None, seq: int | None = None, seqs: list[int] | None = None) -> None:
        """Add rows; ``order`` is each row's place in its session, (event_time, id); ``seq`` the
        embed sequence number the rows were read up to; ``seqs`` each row's own."""
        if seq is not None:
            self.max_seq = max(self.max_seq, seq)
        if not rowids:
            return
        new = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)
        start = self.matrix.shape[0]
        self.matrix = np.vstack([self.matrix, new]) if self.matrix.size else new.copy()
        self.rowids = np.concatenate([self.rowids, np.asarray(rowids, dtype=np.int64)])
        self.seqs = np.concatenate([self.seqs, np.asarray(seqs or [self.max_seq] * len(rowids), dtype=np.int64)])
        self._holders = None
        self.times = np.concatenate([self.times, np.asarray([k[0] for k in order] if order else
                                                            [np.nan] * len(rowids), np.float64)])
        keys = order or [(float(start + i), "") for i in range(len(rowids))]
        self._add_windows(start, groups or [None] * len(rowids), keys)

    def _add_windows(self, start: int, groups: list[Group], keys: list[OrderKey]) -> None:
        self.members = np.vstack([self.members, np.full((len(groups), WINDOW_TURNS), -1, np.int64)])
        self.norms = np.concatenate([self.norms, np.zeros(len(groups), np.float32)])
        added = [(group, (keys[i], start + i)) for i, group in enumerate(groups) if group is not None]
        for group, item in added:
            insort(self.sessions.setdefault(group, []), item)
        # a turn placed before others changes their windows too: the WINDOW_TURNS - 1 after it
        stale: set[tuple[object, int]] = set()
        for group, item in added:
            at = bisect_left(self.sessions[group], item)
            stale.update((group, j) for j in range(at, min(at + WINDOW_TURNS, len(self.sessions[group]))))
        for key, j in stale:
            self._set_window(self.sessions[key], j)

    def _set_window(self, turns: list[tuple[OrderKey, int]], j: int) -> None:
        pos = turns[j][1]
        window = [p for _, p in turns[max(0, j - WINDOW_TURNS + 1):j + 1]]
        self.members[pos] = -1
        self.members[pos, :len(window)] = window
        self.norms[pos] = float(np.linalg.norm(self.matrix[window].sum(axis=0)))

    def windows_holding(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The rows whose windows contain any of ``positions`` (a row's own window holds it)."""
        if self._holders is None:
            flat = self.members.ravel()
            owner = np.repeat(np.arange(self.members.shape[0], dtype=np.int64), self.members.shape[1])
            keep = flat >= 0
            order = np.argsort(flat[keep], kind="stable")
            self._holders = (flat[keep][order], owner[keep][order])
        members, owners = self._holders
        lo = np.searchsorted(members, positions, side="left")
        hi = np.searchsorted(members, positions, side="right")
        if not len(positions):
            return np.empty(0, np.int64)
        return np.unique(np.concatenate([owners[a:b] for a, b in zip(lo, hi, strict=True)]))

    def window_scores_at(self, rows: npt.NDArray[np.int64], query: Vector) -> npt.NDArray[np.float32]:
        """Window cosines of ``rows`` alone (-inf for rows without a window): only their members'
        vectors are read, which is what the ANN tier pays instead of a full scan."""
        members = self.members[rows]
        used = np.unique(members[members >= 0])
        cos = np.zeros(self.matrix.shape[0] + 1, np.float32)
        cos[used] = self.matrix[used] @ query
        sums = cos[members].sum(axis=1)  # -1 picks the last slot, a zero
        norms = self.norms[rows]
        out = np.full(rows.shape[0], -np.inf, np.float32)
        has = norms > 0
        out[has] = sums[has] / norms[has]
        return out

    def window_scores(self, cosines: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Each row's window cosine (-inf for rows without a window), from the rows' cosines."""
        padded = np.append(cosines, np.float32(0.0))
        sums = padded[self.members].sum(axis=1)  # -1 picks the padding zero
        out = np.full(cosines.shape[0], -np.inf, np.float32)
        has = self.norms > 0
        out[has] = sums[has] / self.norms[has]
        return out


class VectorCache:
    """Per (scope key, model) matrices, least recently used first out past ``max_bytes``.

    Bounded by bytes, not by scopes: with many small scopes (users of a few hundred memories)
    a cap of 64 scopes made most searches reload their scope's vectors from the file (~8 ms for
    500 long turns; ``engram bench scale --layouts lme``), where all of them take ~80 MB."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self._entries: OrderedDict[tuple[object, ...], ScopeMatrix] = OrderedDict()
        self._sizes: dict[tuple[object, ...], int] = {}  # each entry's size when last handed out
        self._total = 0
        self._lock = threading.Lock()
        self._max = cache_bytes_from_env() if max_bytes is None else max_bytes

    def get(self, key: tuple[object, ...], mutation_seq: int, dim: int) -> ScopeMatrix:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.mutation_seq != mutation_seq:
                entry = ScopeMatrix(mutation_seq, 0, np.empty(0, np.int64), np.empty((0, dim), np.float32))
                self._entries[key] = entry
            self._entries.move_to_end(key)
            # an entry grows after it is handed out (new rows): its size is taken at each hand-out
            self._total += entry.nbytes() - self._sizes.get(key, 0)
            self._sizes[key] = entry.nbytes()
            while self._total > self._max and len(self._entries) > 1:
                old, _ = self._entries.popitem(last=False)
                self._total -= self._sizes.pop(old, 0)
            return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self._total = 0


def cache_bytes_from_env() -> int:
    """``$ENGRAM_VECTOR_CACHE_MB`` megabytes, else VECTOR_CACHE_MB."""
    raw = os.environ.get(ENV_CACHE_MB, "").strip()
    return (int(raw) if raw.isdigit() else VECTOR_CACHE_MB) * 1_000_000


_BLAS: Any = None


def _one_blas_thread() -> Any:
    """Multi-threaded OpenBLAS gemv on a 2-core machine was ~20x slower than one thread."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def cosines(matrix: Matrix, query: Vector) -> npt.NDArray[np.float32]:
    with _one_blas_thread():
        out: npt.NDArray[np.float32] = matrix @ query
    return out


def best_of(scores: npt.NDArray[np.float32], k: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """Indices and values of the k highest finite scores, best first, ties by position."""
    finite = int(np.isfinite(scores).sum())
    k = min(k, finite)
    if k <= 0:
        return np.empty(0, np.intp), np.empty(0, np.float32)
    idx = np.argpartition(-scores, k - 1)[:k]
    # stable tie-break on position keeps results deterministic
    order = np.lexsort((idx, -scores[idx]))
    best = idx[order]
    return best, scores[best]


def from_blob(blob: bytes | None, dim: int) -> Keys | None:
    """A stored BLOB as its rows (whole-text vector, then sentence keys); None if it is not
    made of ``dim``-wide float32 rows (another model's vectors)."""
    if blob is None or not blob or len(blob) % (4 * dim):
        return None
    return np.frombuffer(blob, dtype=np.float32).reshape(-1, dim)


def to_blob(vector: Vector) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()
