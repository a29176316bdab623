"""Exact in-process vector scan with an incremental per-scope cache.

Vectors live in the database as float32 BLOBs. Scanning N x d with numpy is
exact and fast (100k x 384 in a few ms); what is slow is fetching the BLOBs,
so each (scope, model) keeps its matrix in memory and only appends rows
inserted since. Any write that changes visibility bumps ``mutation_seq``,
which invalidates the cached matrices (also for writes by other processes).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engramdb.core.ports import Matrix, Vector


@dataclass
class ScopeMatrix:
    mutation_seq: int
    max_rowid: int
    rowids: npt.NDArray[np.int64]
    matrix: Matrix

    def append(self, rowids: list[int], blobs: list[bytes], dim: int) -> None:
        if not rowids:
            return
        new = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)
        self.matrix = np.vstack([self.matrix, new]) if self.matrix.size else new.copy()
        self.rowids = np.concatenate([self.rowids, np.asarray(rowids, dtype=np.int64)])
        self.max_rowid = max(self.max_rowid, max(rowids))


class VectorCache:
    """Per (scope key, model) matrices, bounded by a simple entry count."""

    def __init__(self, max_entries: int = 64) -> None:
        self._entries: dict[tuple[object, ...], ScopeMatrix] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, key: tuple[object, ...], mutation_seq: int, dim: int) -> ScopeMatrix:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.mutation_seq != mutation_seq:
                entry = ScopeMatrix(mutation_seq, 0, np.empty(0, np.int64), np.empty((0, dim), np.float32))
                if len(self._entries) >= self._max:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[key] = entry
            return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_BLAS: Any = None


def _one_blas_thread() -> Any:
    """Multi-threaded OpenBLAS gemv on a 2-core machine was ~20x slower than one thread."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def top_k(matrix: Matrix, query: Vector, k: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """Indices and cosine scores of the k best rows (rows and query are unit vectors)."""
    if matrix.shape[0] == 0 or k <= 0:
        return np.empty(0, np.intp), np.empty(0, np.float32)
    with _one_blas_thread():
        scores = matrix @ query
    k = min(k, scores.shape[0])
    idx = np.argpartition(-scores, k - 1)[:k]
    # stable tie-break on position keeps results deterministic
    order = np.lexsort((idx, -scores[idx]))
    best = idx[order]
    return best, scores[best]


def to_blob(vector: Vector) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()
