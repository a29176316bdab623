"""The read side of ``engram bench perf``: search while the worker catches up, and search in
big scopes.

Catch-up: the LoCoMo dev file is imported acknowledged (the worker starts embedding), then
the main thread searches one conversation's scope with its own questions until the queue
is empty; only searches that ended while jobs were still open count as "during". After the
flush the same sequence of queries is timed again ("idle"; at most IDLE_CYCLES passes over
the questions, which the catch-up asked in turn), so the ratio compares like with like in
one run.

Big scopes (10k, 100k) are built from the real LoCoMo turns: each synthetic memory is a
real turn with a unique suffix, and its vector is the real turn's vector plus small
Gaussian noise (re-normalised). That keeps text and vector distributions realistic
without embedding 100k texts first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engramdb.bench.common import percentiles
from engramdb.core.models import Kind, Scope
from engramdb.core.ports import Embedder, Keys
from engramdb.engine.ingest import Draft, build_records
from engramdb.engine.memory import Memory
from engramdb.formats.base import Batch

SESSION_TURNS = 20  # turns per session in the filler scopes (LoCoMo sessions hold ~20)
BUDGET = 1000  # tokens: the budget every timed search packs
IDLE_CYCLES = 2  # idle, the queries asked during catch-up are timed again, at most this many times each


def search_during_catch_up(embedder: Embedder, batches: Sequence[Batch], user: str, queries: Sequence[str],
                           path: Path, *, worker_embedder: Embedder | None = None) -> dict[str, Any]:
    """Search latency in ``user``'s scope while the worker embeds the import, then idle.
    ``worker_embedder``: the worker embeds documents with this one (a session of its own)."""
    used = embedder if worker_embedder is None else _Split(worker_embedder, embedder)
    with Memory(path, embedder=used) as mem:
        t0 = time.perf_counter()
        mem.add_many(list(batches))
        acked = time.perf_counter() - t0
        mem.search(queries[0], user_id=user, budget_tokens=BUDGET)  # opens the scope (not timed)
        during: list[float] = []
        asked: list[str] = []
        unembedded: list[int] = []
        i = 0
        while True:
            q = queries[i % len(queries)]
            i += 1
            t1 = time.perf_counter()
            res = mem.search(q, user_id=user, budget_tokens=BUDGET)
            ms = (time.perf_counter() - t1) * 1000
            if not mem.store.open_jobs():
                break  # the queue emptied during (or before the end of) this search: not counted
            during.append(ms)
            asked.append(q)
            unembedded.append(res.unembedded)
        caught_up = time.perf_counter() - t0
        mem.flush()
        mem.search(queries[0], user_id=user, budget_tokens=BUDGET)  # the rest of the scope's vectors
        idle = []
        for q in asked[:IDLE_CYCLES * len(queries)]:
            t1 = time.perf_counter()
            mem.search(q, user_id=user, budget_tokens=BUDGET)
            idle.append((time.perf_counter() - t1) * 1000)
    d, s = percentiles(during), percentiles(idle)
    return {"scope": user, "questions": len(queries), "acknowledged_s": round(acked, 3),
            "caught_up_s": round(caught_up, 3), "during": d, "idle": s,
            "unembedded_mean": round(float(np.mean(unembedded)), 1) if unembedded else 0,
            "ratio_p50": _ratio(d, s, "p50_ms"), "ratio_p95": _ratio(d, s, "p95_ms")}


def _ratio(during: dict[str, float], idle: dict[str, float], key: str) -> float | None:
    if key not in during or not idle.get(key):
        return None
    return round(during[key] / idle[key], 2)


class _Split:
    """An embedder whose documents come from one session and queries from another (the same
    model): what a worker with a session of its own would look like to search."""

    def __init__(self, documents: Embedder, queries: Embedder) -> None:
        if documents.model_id != queries.model_id:
            raise ValueError("both sessions must be the same model")
        self._documents = documents
        self._queries = queries

    @property
    def model_id(self) -> str:
        return self._queries.model_id

    @property
    def dim(self) -> int:
        return self._queries.dim

    def embed_documents(self, texts: Sequence[str]) -> Any:
        return self._documents.embed_documents(texts)

    def embed_query(self, text: str) -> Any:
        return self._queries.embed_query(text)


def search_big_scope(embedder: Embedder, stored: Sequence[tuple[str, Keys]], size: int, queries: Sequence[str],
                     path: Path, rng: np.random.Generator) -> dict[str, Any]:
    """Search p50/p95 in one scope of ``size`` memories (vectors written directly, no worker)."""
    with Memory(path, embedder=embedder) as mem:
        _fill(mem, stored, size, rng)
        t0 = time.perf_counter()
        mem.search(queries[0], user_id="perf", budget_tokens=BUDGET)
        first = (time.perf_counter() - t0) * 1000
        lat = []
        for q in queries:
            t0 = time.perf_counter()
            mem.search(q, user_id="perf", budget_tokens=BUDGET)
            lat.append((time.perf_counter() - t0) * 1000)
    return {**percentiles(lat), "first_query_ms": round(first, 1)}


def _fill(mem: Memory, stored: Sequence[tuple[str, Keys]], size: int, rng: np.random.Generator) -> None:
    """``size`` conversational turns for one user, in sessions of SESSION_TURNS (so episode windows
    exist), each with the (slightly perturbed) vectors and sentence keys of a real LoCoMo turn."""
    n = len(stored)
    for start in range(0, size, 2000):
        idx = list(range(start, min(size, start + 2000)))
        records = []
        for first in range(start, idx[-1] + 1, SESSION_TURNS):
            part = [i for i in idx if first <= i < first + SESSION_TURNS]
            drafts = [Draft(f"{stored[i % n][0]} (#{i})", "user", None, None, {}) for i in part]
            scope = Scope(user_id="perf", session_id=f"s{first // SESSION_TURNS}")
            records += build_records(drafts, scope=scope, kind=Kind.TURN, timestamp=None, metadata={})
        vecs = []
        for i in idx:
            base = stored[i % n][1]
            noisy = base + rng.normal(0, 0.02, size=base.shape).astype(np.float32)
            vecs.append((noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32))
        mem.store.add(records, vecs, mem.embedder.model_id)
