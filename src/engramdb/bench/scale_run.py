"""One run of ``engram bench scale``: one store, one layout, one size, on a fresh database.

Phases, in order (each number says what it includes):

1. fill: every memory written through ``Store.add`` with pre-computed vectors, CHUNK per
   transaction (rows, full-text and window indexes, vectors; no embedding, no job);
2. the first search (cold: it loads the scope's vectors) and, where the store has an ANN tier
   and the scope is past its threshold, the wait for the graph that search started;
3. search: ``Memory.search`` with a 1,000-token budget in the query's user scope: an untimed
   pass that embeds every query (and its variants) once, then ``passes`` timed passes; p50 /
   p95 per pass of the wall time and of the thread's CPU time (on a shared machine, wall time
   above CPU time is waiting for a core, not work); with an ANN graph, the same again with
   the tier switched off (``search_exact``);
4. recall@k of the store's dense list (``Store.vector_search``) against the exact top k
   computed while the memories were written (and of the exact scan, ``recall_exact``); then
   disk bytes (after a WAL checkpoint / VACUUM ANALYZE; the ANN graphs included);
5. acknowledged writes of ``ack_sample`` new texts through ``Memory.add_many`` and ``adds``
   single ``Memory.add`` calls (no worker running: the pure acknowledgement), then the
   catch-up: ``Memory.flush()`` embedding them with the real model (one compute thread).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engramdb.bench.common import percentiles
from engramdb.bench.scale_corpus import Corpus, QueryVectors, keys_for
from engramdb.bench.scale_layouts import (
    SESSION_TURNS,
    Chunk,
    ExactTopK,
    lme_chunks,
    pool_chunks,
    user_of,
    users,
)
from engramdb.bench.scale_targets import Target, ann_tier, peak_rss_mb, reset_peak_rss, rss_mb
from engramdb.core.models import Scope
from engramdb.core.ports import Embedder, ReadSpec, Store
from engramdb.engine.ingest import Batch
from engramdb.engine.memory import Memory
from engramdb.pipeline.worker import WorkerOptions

BUDGET = 1000
Tick = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class RunSpec:
    store: str
    layout: str
    size: int  # memories (one, many) or users (lme)
    queries: int = 200
    passes: int = 3
    recall_queries: int = 100
    k: int = 10
    ack_sample: int = 500
    adds: int = 50
    seed: int = 0

    @property
    def label(self) -> str:
        return f"{self.store}-{self.layout}-{self.size}"


def run_one(spec: RunSpec, target: Target, corpus: Corpus, documents: Embedder, model: Embedder,
            tick: Tick) -> dict[str, Any]:
    """``documents``: the corpus embedder (through the cache); ``model``: the plain model, which
    embeds the queries (before timing) and the catch-up's new texts."""
    rng = np.random.default_rng(spec.seed)
    vectors = QueryVectors(model, model)
    texts, who = _queries(spec, corpus, rng)
    qmat = vectors.prepare(texts)
    n_recall = min(spec.recall_queries, len(texts))
    exact = ExactTopK(qmat[:n_recall], who[:n_recall], spec.k)
    out: dict[str, Any] = {"spec": asdict(spec), "store": spec.store, "layout": spec.layout, "size": spec.size,
                           "target": target.where, "embedder": model.model_id,
                           "rss_mb": {"start": rss_mb(), "peak_since_start": reset_peak_rss()},
                           "load_start": _load()}
    store = target.open()
    try:
        total = spec.size if spec.layout != "lme" else sum(len(b.messages) for h in corpus.haystacks[:spec.size]
                                                           for b in h.batches)
        out["fill"] = _fill(store, _chunks(spec, corpus, documents, rng), exact, model.model_id, tick, total)
        out["rss_mb"]["after_fill"] = rss_mb()
        tier = ann_tier(store)
        mem = Memory(None, store=store, embedder=vectors, facts=False, llm=False, close_timeout=0,
                     worker=WorkerOptions(threads=0))
        out["index"] = _first_search(mem, texts, who, tier)
        out["index"]["keywords"] = _keyword_tier(store)
        if target.rebuild is not None:
            out["index"]["rebuild"] = target.rebuild()
        indexed = bool(tier is not None and tier.loaded())
        dense = "ann" if indexed else target.dense
        _warm(mem, texts, who, tick)
        vectors.mark()
        out["search"] = _timed(mem, texts, who, spec.passes, tick, dense)
        out["search"]["query_embeddings_during_timing"] = vectors.misses_since()
        out["recall"] = _recall(store, qmat, exact, model.model_id, dense)
        if tier is not None and indexed:  # the same store with the tier off: the exact baseline
            threshold, tier.min_vectors = tier.min_vectors, None
            out["search_exact"] = _timed(mem, texts, who, spec.passes, tick, "exact")
            out["recall_exact"] = _recall(store, qmat, exact, model.model_id, "exact")
            tier.min_vectors = threshold
        out["rss_mb"]["after_search"] = rss_mb()
        out["disk"] = _disk(target, store, out["fill"]["memories"])
        out["ack"], batches = _ack(mem, spec, corpus, rng)
        out["catch_up"] = _catch_up(mem, batches + spec.adds, out["fill"]["memories"], model, tick)
        mem.close()
    finally:
        store.close()
        target.drop()
    out["rss_mb"]["peak"] = peak_rss_mb()
    out["load_end"] = _load()
    return out


def _load() -> dict[str, float]:
    """The machine's load average (2 cores shared with other work: timings are noisy)."""
    one, five, _ = os.getloadavg()
    return {"1m": round(one, 2), "5m": round(five, 2)}


def _chunks(spec: RunSpec, corpus: Corpus, documents: Embedder, rng: np.random.Generator) -> Iterator[Chunk]:
    if spec.layout == "lme":
        return lme_chunks(corpus.haystacks[:spec.size], lambda records: keys_for(records, documents))
    return pool_chunks(corpus, spec.layout, spec.size, rng)


def _queries(spec: RunSpec, corpus: Corpus, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """(question, its user): LongMemEval users are asked their own question; the other layouts
    real questions in turn, in the one scope or in a random user."""
    if spec.layout == "lme":
        hay = corpus.haystacks[:spec.size]
        return [h.question for h in hay], [user_of("lme", n) for n in range(len(hay))]
    texts = [corpus.questions[i % len(corpus.questions)] for i in range(spec.queries)]
    everyone = users(spec.layout, spec.size)
    return texts, [everyone[int(rng.integers(len(everyone)))] for _ in texts]


def _fill(store: Store, chunks: Iterator[Chunk], exact: ExactTopK, model_id: str, tick: Tick,
          total: int) -> dict[str, Any]:
    written = real = 0
    vectors = 0
    seconds = 0.0
    scopes: set[str] = set()
    for chunk in chunks:
        t0 = time.perf_counter()
        store.add(chunk.records, chunk.keys, model_id)
        seconds += time.perf_counter() - t0
        exact.add(chunk)
        written += len(chunk.records)
        real += chunk.real
        vectors += sum(k.shape[0] for k in chunk.keys)
        scopes.update(str(r.scope.user_id) for r in chunk.records)
        tick("fill", written, max(total, written))
    return {"path": "Store.add, pre-computed vectors (no embedding, no job), one transaction per chunk",
            "memories": written, "real_memories": real, "synthetic_memories": written - real,
            "vectors": vectors, "users": len(scopes), "seconds": round(seconds, 3),
            "memories_per_s": round(written / seconds, 1) if seconds else None}


def _disk(target: Target, store: Store, memories: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    disk = target.disk(store)
    disk["bytes_per_memory"] = round(disk["bytes"] / memories, 1) if memories else None
    disk["parts_per_memory"] = {k: round(v / memories, 1) for k, v in disk["parts"].items()} if memories else {}
    disk["measure_s"] = round(time.perf_counter() - t0, 3)
    return disk


def _first_search(mem: Memory, texts: list[str], who: list[str], tier: Any | None) -> dict[str, Any]:
    """The first search of a scope (cold: its vectors are read from the store), after one in an
    empty scope (which loads the tokenizer); with an ANN tier, the wait for the build that
    search started (it runs in the background; searches stay exact until it is done)."""
    mem.search(texts[0], user_id="scale-warm-up", budget_tokens=BUDGET)
    t0 = time.perf_counter()
    mem.search(texts[0], user_id=who[0], budget_tokens=BUDGET)
    out: dict[str, Any] = {"first_search_ms": round((time.perf_counter() - t0) * 1000, 1), "ann": None}
    if tier is not None:
        tier.wait()
        out["ann"] = {"min_vectors": tier.min_vectors, "scopes_indexed": tier.loaded(),
                      "build_s": round(time.perf_counter() - t0, 3) if tier.loaded() else None,
                      "build_includes": "the first search (reading the scope's vectors) and the graph build"}
    return out


def _keyword_tier(store: Store) -> dict[str, Any] | None:
    """The SQLite keyword tier (stores/keyword_tier.py): the wait for the in-memory BM25 index
    the first search of a big scope started (searches use FTS5 until it is done), its size."""
    tier = getattr(store, "keywords", None)
    if tier is None or tier.min_rows is None:
        return None
    t0 = time.perf_counter()
    tier.wait()
    return {"min_rows": tier.min_rows, "scopes_indexed": tier.loaded(), "wait_s": round(time.perf_counter() - t0, 3),
            "bytes": tier.held_bytes(), "failures": list(tier.failures)}


def _warm(mem: Memory, texts: list[str], who: list[str], tick: Tick) -> None:
    """Untimed: every query (and the variants a search embeds) is embedded once, every scope
    asked is loaded."""
    for i, (q, user) in enumerate(zip(texts, who, strict=True)):
        mem.search(q, user_id=user, budget_tokens=BUDGET)
        tick("warm-up searches", i + 1, len(texts))


def _timed(mem: Memory, texts: list[str], who: list[str], passes: int, tick: Tick, dense: str) -> dict[str, Any]:
    runs = []
    for p in range(passes):
        lat, cpu = [], []
        for i, (q, user) in enumerate(zip(texts, who, strict=True)):
            t1, c1 = time.perf_counter(), time.thread_time()
            mem.search(q, user_id=user, budget_tokens=BUDGET)
            lat.append((time.perf_counter() - t1) * 1000)
            cpu.append((time.thread_time() - c1) * 1000)
            tick(f"timed searches ({dense}), pass {p + 1}/{passes}", i + 1, len(texts))
        on_cpu = percentiles(cpu)
        runs.append({**percentiles(lat), "cpu_p50_ms": on_cpu["p50_ms"], "cpu_p95_ms": on_cpu["p95_ms"]})
    return {"budget_tokens": BUDGET, "queries": len(texts), "dense_lists": dense, "passes": runs,
            "p50_ms": spread([p["p50_ms"] for p in runs]), "p95_ms": spread([p["p95_ms"] for p in runs]),
            "cpu_p50_ms": spread([p["cpu_p50_ms"] for p in runs]),
            "cpu_p95_ms": spread([p["cpu_p95_ms"] for p in runs])}


def spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3)}


def _recall(store: Store, qmat: np.ndarray[Any, Any], exact: ExactTopK, model_id: str, dense: str) -> dict[str, Any]:
    found, lat = [], []
    for q in range(len(exact.best)):
        # the read Memory.search makes (archived memories left out): the same cached scope, so
        # the same ANN graph answers (a read that also sees archived memories is another cached
        # scope, whose graph would not be built yet: it would answer exactly)
        spec = ReadSpec(Scope(user_id=exact.targets[q]), include_archived=False)
        t0 = time.perf_counter()
        hits = store.vector_search(spec, qmat[q], model_id, exact.k)
        lat.append((time.perf_counter() - t0) * 1000)
        records = store.fetch([h.ref for h in hits])
        got = {records[h.ref].id for h in hits if h.ref in records}
        truth = exact.ids(q)
        found.append(len(got & set(truth)) / max(1, len(truth)))
    return {"k": exact.k, "queries": len(found), "recall_at_k": round(float(np.mean(found)), 4) if found else None,
            "dense_list": dense, "vector_search": percentiles(lat)}


def _ack(mem: Memory, spec: RunSpec, corpus: Corpus, rng: np.random.Generator) -> tuple[dict[str, Any], int]:
    """New texts (real turns with an ack number) in the layout's users, acknowledged only."""
    everyone = users(spec.layout, min(spec.size, len(corpus.haystacks)) if spec.layout == "lme" else spec.size)
    batches = []
    for start in range(0, spec.ack_sample, SESSION_TURNS):
        user = everyone[int(rng.integers(len(everyone)))]
        messages = [{**corpus.pool[int(rng.integers(len(corpus.pool)))].message} for _ in
                    range(min(SESSION_TURNS, spec.ack_sample - start))]
        for j, m in enumerate(messages):
            m["content"] = f"{m['content']} (ack {start + j})"
        batches.append(Batch(messages, user_id=user, session_id=f"ack{start // SESSION_TURNS}"))
    t0 = time.perf_counter()
    n = mem.add_many(batches)
    seconds = time.perf_counter() - t0
    single = []
    for i in range(spec.adds):
        msg = {**corpus.pool[int(rng.integers(len(corpus.pool)))].message}
        msg["content"] = f"{msg['content']} (add {i})"
        t1 = time.perf_counter()
        mem.add([msg], user_id=everyone[i % len(everyone)])
        single.append((time.perf_counter() - t1) * 1000)
    return {"path": "Memory.add_many / Memory.add, background (queued embed jobs, no worker running)",
            "add_many": {"memories": n, "seconds": round(seconds, 3), "memories_per_s": round(n / seconds, 1)},
            "add_one": percentiles(single)}, n


def _catch_up(mem: Memory, memories: int, size: int, model: Embedder, tick: Tick) -> dict[str, Any]:
    report = mem.flush(on_progress=lambda left: tick("catch-up (embedding)", memories - left, memories))
    if report.failed or report.remaining:
        raise RuntimeError(f"catch-up left {report.remaining} jobs, {report.failed} failed")
    per_s = memories / report.seconds if report.seconds else None
    return {"path": "Memory.flush() on this thread: the embed stage with the real model, one compute thread",
            "embedder": model.model_id, "memories": memories, "seconds": round(report.seconds, 3),
            "memories_per_s": round(per_s, 1) if per_s else None,
            "projected_s_for_size": round(size / per_s, 1) if per_s else None}
