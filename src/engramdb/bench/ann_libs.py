"""The ANN library comparison of ``engram bench ann``: usearch, faiss-cpu (HNSW) and hnswlib on the
same real vectors, against the exact scan the store uses today.

Each library builds an HNSW graph over the vectors with its default-ish parameters (M=16, an
expansion of 128 while building), then answers the queries one at a time on one thread with
a search expansion of 128 (the search asks for 100 dense candidates). Recall@k is the share of
the exact top k that the index returns in its top k. The libraries that are not installed are
reported as such (faiss-cpu and hnswlib are only needed for this comparison).
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engramdb.bench.common import percentiles
from engramdb.core.ports import Matrix
from engramdb.stores.vector_index import best_of, cosines

CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 128
BUILD_THREADS = 2

Ids = npt.NDArray[np.int64]


def exact_top(matrix: Matrix, queries: Matrix, k: int) -> list[Ids]:
    return [best_of(cosines(matrix, q), k)[0].astype(np.int64) for q in queries]


def exact_scan_ms(matrix: Matrix, queries: Matrix, k: int = 100) -> dict[str, float]:
    """What the store does today for one dense list: one matrix-vector product and a top k."""
    lat = []
    for q in queries:
        t0 = time.perf_counter()
        best_of(cosines(matrix, q), k)
        lat.append((time.perf_counter() - t0) * 1000)
    return percentiles(lat)


def recall(found: list[Ids], truth: list[Ids], k: int) -> float:
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) / max(1, min(k, len(t))) for f, t in zip(found, truth,
                                                                                                  strict=True)]
    return round(float(np.mean(hits)), 4)


class _Lib:
    name = ""
    module = ""
    filtered = ""
    deletes = ""

    def build(self, matrix: Matrix) -> None:
        raise NotImplementedError

    def query(self, q: Matrix, k: int) -> Ids:
        raise NotImplementedError

    def save(self, path: Path) -> None:
        raise NotImplementedError


class _USearch(_Lib):
    name, module = "usearch", "usearch"
    filtered = "no predicate in the Python API: over-fetch and mask (or an exact scan of the admitted rows)"
    deletes = ("remove(key): the graph is relinked; the slot's bytes stay in a saved file until the slot is "
               "reused (add a zero vector under a scratch key, then remove it)")

    def build(self, matrix: Matrix) -> None:
        from engramdb.stores.ann_index import usearch_index

        self.index = usearch_index()(ndim=matrix.shape[1], metric="ip", dtype="f32", connectivity=CONNECTIVITY,
                           expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)
        self.index.add(np.arange(matrix.shape[0], dtype=np.uint64), matrix, threads=BUILD_THREADS)

    def query(self, q: Matrix, k: int) -> Ids:
        return np.asarray(self.index.search(q, k, threads=1).keys, dtype=np.int64)

    def save(self, path: Path) -> None:
        self.index.save(str(path))


class _Faiss(_Lib):
    name, module = "faiss-cpu (IndexHNSWFlat)", "faiss"
    filtered = "yes: IDSelector in SearchParametersHNSW (a bitmap or a batch of ids)"
    deletes = "no remove_ids for HNSW indexes (IVF indexes have it, at the cost of training and nprobe)"

    def build(self, matrix: Matrix) -> None:
        faiss: Any = importlib.import_module("faiss")
        faiss.omp_set_num_threads(BUILD_THREADS)
        self.index = faiss.IndexHNSWFlat(matrix.shape[1], CONNECTIVITY, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = EXPANSION_ADD
        self.index.add(matrix)
        self.index.hnsw.efSearch = EXPANSION_SEARCH
        faiss.omp_set_num_threads(1)
        self._faiss = faiss

    def query(self, q: Matrix, k: int) -> Ids:
        _, ids = self.index.search(q[None, :], k)
        return np.asarray(ids[0], dtype=np.int64)

    def save(self, path: Path) -> None:
        self._faiss.write_index(self.index, str(path))


class _Hnswlib(_Lib):
    name, module = "hnswlib", "hnswlib"
    filtered = "yes: a Python callable per candidate (slow when most rows are excluded)"
    deletes = "mark_deleted(label); the slot is overwritten only by add_items(replace_deleted=True)"

    def build(self, matrix: Matrix) -> None:
        hnswlib: Any = importlib.import_module("hnswlib")
        self.index = hnswlib.Index(space="ip", dim=matrix.shape[1])
        self.index.init_index(max_elements=matrix.shape[0], ef_construction=EXPANSION_ADD, M=CONNECTIVITY,
                              allow_replace_deleted=True)
        self.index.add_items(matrix, np.arange(matrix.shape[0]), num_threads=BUILD_THREADS)
        self.index.set_ef(EXPANSION_SEARCH)
        self.index.set_num_threads(1)

    def query(self, q: Matrix, k: int) -> Ids:
        labels, _ = self.index.knn_query(q, k=k)
        return np.asarray(labels[0], dtype=np.int64)

    def save(self, path: Path) -> None:
        self.index.save_index(str(path))


LIBRARIES: dict[str, Callable[[], _Lib]] = {"usearch": _USearch, "faiss": _Faiss, "hnswlib": _Hnswlib}


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def compare(matrix: Matrix, queries: Matrix, truth10: list[Ids], truth100: list[Ids],
            names: list[str]) -> list[dict[str, Any]]:
    """Build each library's index over ``matrix`` and time ``queries`` against it."""
    out: list[dict[str, Any]] = []
    for name in names:
        lib = LIBRARIES[name]()
        try:
            importlib.import_module(lib.module)
        except ImportError:
            out.append({"library": lib.name, "installed": False})
            continue
        before = _rss_mb()
        t0 = time.perf_counter()
        lib.build(matrix)
        build_s = time.perf_counter() - t0
        grown = _rss_mb() - before
        lat, found = [], []
        for q in queries:
            t1 = time.perf_counter()
            found.append(lib.query(q, 100))
            lat.append((time.perf_counter() - t1) * 1000)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "index"
            lib.save(path)
            file_mb = path.stat().st_size / 2**20
        out.append({"library": lib.name, "installed": True, "vectors": int(matrix.shape[0]),
                    "build_s": round(build_s, 2), "query": percentiles(lat),
                    "recall_at_10": recall(found, truth10, 10), "recall_at_100": recall(found, truth100, 100),
                    "rss_growth_mb": round(grown, 1), "file_mb": round(file_mb, 1),
                    "filtered_search": lib.filtered, "deletes": lib.deletes})
        del lib
    return out
