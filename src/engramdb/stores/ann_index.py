"""The ANN tier of the SQLite store: an HNSW graph (usearch) per big scope, beside the database.

The exact scan (vector_index.py) stays the truth and the default: a scope's cached matrix is
scanned in full until it holds ``min_vectors`` rows (where one scan crosses ~10 ms on 2 cores;
`engram bench ann`). Past that, the scope's whole-text vectors are also held in an HNSW index
keyed by rowid, and a dense list reads the index instead of scanning:

- **What is in it**: whole-text vectors only. Sentence keys re-score candidates the lists already
  found (read from their BLOBs, a few hundred rows), so they need no index; window vectors are
  scored exactly for the windows holding the ANN's turn candidates (ScopeMatrix.window_scores_at),
  so inserting a turn in the middle of a session (which changes two windows) never touches the
  graph.
- **A tail stays exact.** Rows embedded after the index was built (or re-embedded) are scanned
  exactly and merged with the index's answer; past ``TAIL_MAX`` rows they are added to the graph.
- **Consistency** follows the scope's cached matrix, which follows ``mutation_seq`` and
  ``embed_seq`` (any process): rows the matrix no longer holds (updated, superseded, deleted)
  leave the graph before the next answer; a delete also goes through :meth:`AnnTier.erased`,
  which removes the rows from every index, loaded or only on disk, overwrites their slots and
  rewrites the file, so no erased vector stays in ``<db>.ann/``.
- **Persisted** as ``<db>.ann/<hash>.usearch`` with a JSON sidecar (the sequence numbers it
  reflects). A missing, unreadable or foreign file (a sidecar that does not match, an embed
  sequence ahead of the database) is rebuilt from the cached matrix in a background thread while
  searches stay exact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engramdb.core.ports import Vector
from engramdb.stores.vector_index import ScopeMatrix, best_of

ANN_MIN_VECTORS = 50_000  # the exact scan's p50 crossed ~10 ms between 20k and 50k vectors (BENCHMARKS.md)
ENV_ANN_MIN = "ENGRAM_ANN_MIN_VECTORS"  # another threshold; 0 turns the tier off
TAIL_MAX = 2_000  # rows scanned exactly beside the graph before they are added to it
OVERFETCH = 4  # a filtered read asks the graph for this many times the rows it wants
GATHER_MAX = 5_000  # a filter admitting at most this many rows scores them directly (copying more cost more
# than the masked full scan)
# expansion while searching: 128 gave recall@10 0.995 on 100k distinct real vectors but 0.77 on a
# scope of near-duplicates (LoCoMo turns copied with noise); 512 gave 0.94 there at 0.7 ms
CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH = 16, 128, 512
# a graph walk returns at least this many rows: below EXPANSION_SEARCH a wider answer costs the
# same walk, so a search's turn list (100) and its windows' candidates (3 per window: 300) share
# one walk, remembered per thread for the last query (the walk was ~4 ms at 100k, measured)
MIN_WIDTH = 384
_FORMAT = 1
_SCRATCH = np.uint64(2**63)  # keys of the zero vectors that overwrite erased slots (rowids stay below)

Positions = npt.NDArray[np.int64]


def min_vectors_from_env() -> int | None:
    """The threshold in force: ``$ENGRAM_ANN_MIN_VECTORS`` (0: no ANN tier), else ANN_MIN_VECTORS."""
    raw = os.environ.get(ENV_ANN_MIN, "").strip()
    value = int(raw) if raw.isdigit() else ANN_MIN_VECTORS
    return value or None


@dataclass
class _State:
    index: Any  # usearch.index.Index
    covered: npt.NDArray[np.int64]  # rowids in the graph, sorted
    max_seq: int  # highest embed_seq among them: a covered row with a higher one was re-embedded
    mutation_seq: int
    view: tuple[int, int, int] = (0, 0, 0)  # (id(entry), rows, mutation_seq) the tail was computed for
    tail: Positions | None = None
    order: Positions | None = None  # argsort of the entry's rowids (rowid -> position)


class AnnTier:
    """The per-scope indexes of one store. All index operations hold one lock."""

    def __init__(self, db_path: str, min_vectors: int | None) -> None:
        self.min_vectors = min_vectors
        self.folder = None if db_path == ":memory:" else Path(db_path + ".ann")
        self._states: dict[tuple[object, ...], _State] = {}
        self._building: dict[tuple[object, ...], threading.Thread] = {}
        self._lock = threading.RLock()
        self._erasures = 0  # bumped by every erasure: a build that saw an older count is dropped
        self._changes = 0  # bumped by every change to a loaded graph: remembered walks are dropped
        self._last_walk = threading.local()

    # ---- reads ----------------------------------------------------------------

    def turns(self, key: tuple[object, ...], entry: ScopeMatrix, query: Vector, limit: int,
              allowed: npt.NDArray[np.bool_] | None) -> tuple[Positions, npt.NDArray[np.float32]] | None:
        """Positions (in ``entry``) and cosines of the best ``limit`` rows; None: scan exactly."""
        with self._lock:
            state = self._ready(key, entry)
            if state is None:
                return None
            if allowed is None:
                pos, scores = self._candidates(state, entry, query, limit)
            else:
                admitted = np.flatnonzero(allowed).astype(np.int64)
                if len(admitted) <= GATHER_MAX:  # few rows pass the filter: score just those
                    pos, scores = admitted, entry.matrix[admitted] @ query
                else:
                    pos, scores = self._candidates(state, entry, query, limit * OVERFETCH)
                    keep = allowed[pos]
                    if int(keep.sum()) < limit:
                        return None  # too few of the graph's answer pass: the exact (masked) scan
                    pos, scores = pos[keep], scores[keep]
            idx, best = best_of(scores, limit)
            return pos[idx], best

    def candidates(self, key: tuple[object, ...], entry: ScopeMatrix, query: Vector,
                   limit: int) -> Positions | None:
        """Positions of the best ``limit`` rows by the graph (and the exact tail); None: not indexed."""
        with self._lock:
            state = self._ready(key, entry)
            return None if state is None else self._candidates(state, entry, query, limit)[0]

    def _candidates(self, state: _State, entry: ScopeMatrix, query: Vector,
                    want: int) -> tuple[Positions, npt.NDArray[np.float32]]:
        keys, distances = self._walk(state, query, want)
        tail = self._tail(state, entry)
        order = state.order
        assert order is not None  # set with the tail
        at = order[np.minimum(np.searchsorted(entry.rowids, keys, sorter=order), len(order) - 1)]
        ok = entry.rowids[at] == keys
        pos, scores = at[ok], (1.0 - distances)[ok]
        if len(tail):
            pos = np.concatenate([pos, tail])
            scores = np.concatenate([scores, entry.matrix[tail] @ query])
        return pos.astype(np.int64), scores.astype(np.float32)

    def _walk(self, state: _State, query: Vector, want: int) -> tuple[Positions, npt.NDArray[np.float32]]:
        """The graph's best ``want`` keys and distances, best first (a prefix of a remembered
        wider walk of the same graph and query when there is one)."""
        memo = (id(state.index), self._changes, query.tobytes())
        last = getattr(self._last_walk, "value", None)
        if last is not None and last[0] == memo and len(last[1]) >= min(want, len(state.index)):
            return last[1][:want], last[2][:want]
        found = state.index.search(query, min(max(want, MIN_WIDTH), len(state.index)), threads=1)
        keys, distances = np.asarray(found.keys, np.int64), np.asarray(found.distances, np.float32)
        self._last_walk.value = (memo, keys, distances)
        return keys[:want], distances[:want]

    def _tail(self, state: _State, entry: ScopeMatrix) -> Positions:
        view = (id(entry), entry.matrix.shape[0], entry.mutation_seq)
        if state.tail is None or state.view != view:
            state.tail = np.flatnonzero(~np.isin(entry.rowids, state.covered)).astype(np.int64)
            state.order = np.argsort(entry.rowids, kind="stable")
            state.view = view
        return state.tail

    # ---- keeping an index in step with the scope's matrix ----------------------

    def _ready(self, key: tuple[object, ...], entry: ScopeMatrix) -> _State | None:
        if self.min_vectors is None or entry.matrix.shape[0] < self.min_vectors:
            return None
        state = self._states.get(key) or self._load(key, entry)
        if state is None:
            self._build_later(key, entry)
            return None
        if state.mutation_seq != entry.mutation_seq:
            self._follow(state, entry)
        if len(self._tail(state, entry)) > TAIL_MAX:
            self._absorb(key, state, entry)
        return state

    def _follow(self, state: _State, entry: ScopeMatrix) -> None:
        """Drop covered rows that the matrix no longer holds, or holds re-embedded."""
        live = np.isin(state.covered, entry.rowids)
        redone = entry.rowids[entry.seqs > state.max_seq]
        gone = state.covered[~live | np.isin(state.covered, redone)]
        if len(gone):
            self._changes += 1
            _remove(state.index, gone)
            state.covered = np.setdiff1d(state.covered, gone)
        state.mutation_seq = entry.mutation_seq
        state.tail = None
        # not saved here: a file behind the database is brought up to date the same way on load,
        # and erased rows were already purged from every file by the erasing store (erased())

    def _absorb(self, key: tuple[object, ...], state: _State, entry: ScopeMatrix) -> None:
        tail = self._tail(state, entry)
        self._changes += 1
        state.index.add(entry.rowids[tail].astype(np.uint64), entry.matrix[tail], threads=2)
        state.covered = np.union1d(state.covered, entry.rowids[tail])
        state.max_seq = max(state.max_seq, int(entry.seqs.max()))
        state.tail = None
        self._save(key, state)

    def erased(self, rowids: list[int]) -> None:
        """Erased rows leave every index at once, loaded or on disk, and their bytes leave the files."""
        if not rowids:
            return
        gone = np.unique(np.asarray(rowids, np.int64))
        with self._lock:
            self._erasures += 1
            self._changes += 1
            for key, state in list(self._states.items()):
                hit = gone[np.isin(gone, state.covered)]
                if len(hit):
                    _remove(state.index, hit)
                    state.covered = np.setdiff1d(state.covered, hit)
                    state.tail = None
                    self._save(key, state)
            loaded = {self._file(key) for key in self._states}
            for path in self._files():
                if path not in loaded:
                    _purge_file(path, gone)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for background builds (tests and benchmarks)."""
        for thread in list(self._building.values()):
            thread.join(timeout)

    def loaded(self) -> int:
        """How many scope indexes this process holds in memory."""
        with self._lock:
            return len(self._states)

    def forget_loaded(self) -> None:
        """Drop the indexes held in memory (they are read again from disk on the next search)."""
        with self._lock:
            self._states.clear()

    # ---- building, loading, saving --------------------------------------------

    def _build_later(self, key: tuple[object, ...], entry: ScopeMatrix) -> None:
        if key in self._building and self._building[key].is_alive():
            return
        rowids, matrix, seqs, mutation, epoch = entry.rowids, entry.matrix, entry.seqs, entry.mutation_seq, \
            self._erasures
        thread = threading.Thread(target=self._build, args=(key, rowids, matrix, seqs, mutation, epoch),
                                  name="engram-ann-build", daemon=True)
        self._building[key] = thread
        thread.start()

    def _build(self, key: tuple[object, ...], rowids: npt.NDArray[np.int64], matrix: npt.NDArray[np.float32],
               seqs: npt.NDArray[np.int64], mutation: int, epoch: int) -> None:
        index = _new_index(matrix.shape[1])
        index.add(rowids.astype(np.uint64), matrix, threads=2)
        with self._lock:
            if self._erasures != epoch or key in self._states:
                return  # an erasure ran meanwhile: the next search builds again from the new matrix
            state = _State(index, np.sort(rowids), int(seqs.max()) if len(seqs) else 0, mutation)
            self._states[key] = state
            self._changes += 1
            self._save(key, state)

    def _load(self, key: tuple[object, ...], entry: ScopeMatrix) -> _State | None:
        path = self._file(key)
        if path is None or not path.exists():
            return None
        try:
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            index = usearch_index().restore(str(path))
            ok = (index is not None and meta.get("format") == _FORMAT and int(meta["count"]) == len(index)
                  and int(meta["dim"]) == entry.matrix.shape[1] and int(meta["max_seq"]) <= entry.max_seq)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError):
            ok = False
        if not ok or index is None:
            _unlink(path)
            return None
        index.expansion_search = EXPANSION_SEARCH
        state = _State(index, np.sort(np.asarray(index.keys, np.int64)), int(meta["max_seq"]),
                       int(meta["mutation_seq"]))
        self._states[key] = state
        self._changes += 1
        return state

    def _save(self, key: tuple[object, ...], state: _State) -> None:
        path = self._file(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": _FORMAT, "count": len(state.index), "dim": int(state.index.ndim),
                "max_seq": state.max_seq, "mutation_seq": state.mutation_seq}
        tmp = path.with_suffix(".tmp")
        state.index.save(str(tmp))
        side = path.with_suffix(".json.tmp")
        side.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, path)
        os.replace(side, path.with_suffix(".json"))

    def _file(self, key: tuple[object, ...]) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / (hashlib.sha256(repr(key).encode("utf-8", "surrogatepass")).hexdigest()[:32] + ".usearch")

    def _files(self) -> list[Path]:
        return sorted(self.folder.glob("*.usearch")) if self.folder is not None and self.folder.is_dir() else []


def usearch_index() -> Any:
    """usearch's Index class. onnxruntime (the packaged embedder) is loaded first when it is
    installed: loaded after usearch's extension (2.26, which carries its own C++ runtime), its
    import crashes the process (a segfault, measured with onnxruntime 1.32); this order works."""
    with contextlib.suppress(ImportError):
        import onnxruntime  # noqa: F401

    from usearch.index import Index

    return Index


def _new_index(dim: int) -> Any:
    Index = usearch_index()
    return Index(ndim=dim, metric="ip", dtype="f32", connectivity=CONNECTIVITY, expansion_add=EXPANSION_ADD,
                 expansion_search=EXPANSION_SEARCH)


def _remove(index: Any, rowids: npt.NDArray[np.int64]) -> None:
    """Remove keys and overwrite their slots: usearch reuses a freed slot for the next add, so zero
    vectors added under scratch keys (then removed) take the erased vectors' bytes."""
    index.remove(rowids.astype(np.uint64))
    scratch = _SCRATCH + np.arange(len(rowids), dtype=np.uint64)
    index.add(scratch, np.zeros((len(rowids), index.ndim), np.float32), threads=1)
    index.remove(scratch)


def _purge_file(path: Path, gone: npt.NDArray[np.int64]) -> None:
    """Remove ``gone`` from a graph file this process has not loaded (memory-mapped first: most
    files hold none of them, and are then left untouched)."""
    try:
        viewed = usearch_index().restore(str(path), view=True)
        hit = gone[np.isin(gone, np.asarray(viewed.keys, np.int64))] if viewed is not None else gone
        del viewed
        if not len(hit):
            return
        index = usearch_index().restore(str(path))
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RuntimeError):
        index = None
    if index is None:
        _unlink(path)  # unreadable: it is rebuilt when needed, and holds nothing readable meanwhile
        return
    _remove(index, hit)
    meta["count"] = len(index)
    tmp = path.with_suffix(".tmp")
    index.save(str(tmp))
    os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")


def _unlink(path: Path) -> None:
    for p in (path, path.with_suffix(".json")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
