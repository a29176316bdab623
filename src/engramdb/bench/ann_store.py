"""Whole searches through the SQLite store for ``engram bench ann --store-sizes``: the exact scan
against the ANN tier, and the keyword plan, on the layouts of ``engram bench scale``.

Layouts: ``one:<N>`` (one user, N memories: real LoCoMo/LongMemEval turns with their real
vectors, noisy copies beyond them), ``many:<N>`` (the same memories as users of 100, each asked
in a random user) and ``lme:<U>`` (U LongMemEval users of ~500 long turns each
in one file, asked their own question). Files are kept in ``--work`` and reused, so a run after
a code change times the same data. Every mode times the same pre-embedded questions (the query
embedding is excluded) with a 1,000-token budget, ``passes`` times; the summary is the min and
median of the passes' p50 and p95. ``dense_recall_at_10`` compares the ANN tier's dense list
with the exact one on the same store.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from engramdb.bench.common import percentiles
from engramdb.bench.longmemeval_data import load as load_longmemeval
from engramdb.bench.scale_corpus import Haystack, QueryVectors, keys_for, load_corpus, open_models
from engramdb.bench.scale_layouts import lme_chunks, pool_chunks, user_of, users
from engramdb.core.models import Scope
from engramdb.core.ports import Embedder, ReadSpec
from engramdb.engine.memory import Memory
from engramdb.formats.base import load_json
from engramdb.stores import sqlite_keyword
from engramdb.stores.ann_index import ENV_ANN_MIN
from engramdb.stores.keyword_tier import ENV_MIN_ROWS
from engramdb.stores.sqlite import SQLiteStore

BUDGET = 1000
# mode: (the ANN threshold variable: "0" off, "" the default; the scope-first keyword plan; the
# keyword tier's threshold variable: "0" off, "" the default)
MODES = {"before": ("0", False, "0"), "exact+plan": ("0", True, "0"), "ann+plan": ("", True, "0"),
         "ann+plan+tier": ("", True, "")}


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build(layout: str, work: Path, locomo: Path, longmemeval: Path | None, cache: Path | None,
          spec: str | None) -> tuple[Path, list[str], list[str], Embedder]:
    """The layout's file (made once) and its questions with the user each is asked in: LoCoMo's
    questions for one/many; for lme, haystack i of the LongMemEval file (in its order) is user i."""
    kind, _, n = layout.partition(":")
    size = int(n)
    documents, plain = open_models(spec, cache)
    path = work / f"{kind}-{size}.db"
    haystacks = [Haystack(q.batches, q.query.text) for q in load_longmemeval(longmemeval, size)[0]] \
        if kind == "lme" and longmemeval is not None else []
    if not path.exists():
        store = SQLiteStore(path)
        if kind == "lme":
            chunks = lme_chunks(haystacks, lambda records: keys_for(records, documents))
        else:
            corpus = load_corpus(locomo, None, documents, pool_size=min(size, 160_000), lme_users=0)
            chunks = pool_chunks(corpus, kind, size, np.random.default_rng(0))
        for chunk in chunks:
            store.add(chunk.records, chunk.keys, documents.model_id)
        store.close()
    if kind == "lme":
        texts = [h.question for h in haystacks]
        who = [user_of("lme", i) for i in range(len(texts))]
    else:
        texts = [str(q["question"]) for s in load_json(locomo) for q in s["qa"]]
        everyone = users(kind, size)
        pick = np.random.default_rng(1).integers(len(everyone), size=len(texts))
        who = [everyone[int(i)] for i in pick]
    return path, texts, who, QueryVectors(plain, documents)


def time_mode(path: Path, texts: list[str], who: list[str], model: Embedder, mode: str,
              passes: int) -> dict[str, Any]:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
    ann, plan, tier = MODES[mode]
    sqlite_keyword.SCOPE_FIRST = plan
    with _env({ENV_ANN_MIN: ann, ENV_MIN_ROWS: tier}), Memory(path, embedder=model) as mem:
        store = mem.store
        assert isinstance(store, SQLiteStore)
        t0 = time.perf_counter()
        for user in dict.fromkeys(who):
            mem.search(texts[0], user_id=user, budget_tokens=BUDGET)  # loads the scope (and its graph)
        store.ann.wait()
        store.keywords.wait()  # the keyword tier's index, which the same searches started
        warm_s = time.perf_counter() - t0
        for text, user in zip(texts, who, strict=True):  # untimed: every query vector made, caches warm
            mem.search(text, user_id=user, budget_tokens=BUDGET)
        runs = []
        for _ in range(passes):
            lat, cpu = [], []
            for text, user in zip(texts, who, strict=True):
                t1, c1 = time.perf_counter(), time.thread_time()
                mem.search(text, user_id=user, budget_tokens=BUDGET)
                lat.append((time.perf_counter() - t1) * 1000)
                cpu.append((time.thread_time() - c1) * 1000)
            on_cpu = percentiles(cpu)
            runs.append({**percentiles(lat), "cpu_p50_ms": on_cpu["p50_ms"], "cpu_p95_ms": on_cpu["p95_ms"]})
        return {"mode": mode, "warm_s": round(warm_s, 2), "indexes": store.ann.loaded(), "passes": runs,
                "p50_ms": _spread([r["p50_ms"] for r in runs]), "p95_ms": _spread([r["p95_ms"] for r in runs]),
                "cpu_p50_ms": _spread([r["cpu_p50_ms"] for r in runs]),
                "cpu_p95_ms": _spread([r["cpu_p95_ms"] for r in runs]),
                "scope_first_keyword_plan": plan, "keyword_tier": store.keywords.loaded()}


def dense_recall(path: Path, texts: list[str], who: list[str], model: Embedder) -> float | None:
    with _env({ENV_ANN_MIN: ""}):
        ann = SQLiteStore(path)
    exact = SQLiteStore(path)
    exact.ann.min_vectors = None
    try:
        hits = []
        for text, user in zip(texts, who, strict=True):
            q = model.embed_query(text)
            spec = ReadSpec(Scope(user_id=user))
            found = ann.vector_search(spec, q, model.model_id, 10)
            ann.ann.wait()
            if not ann.ann.loaded():
                return None  # the scope is under the threshold: the dense list is exact
            found = ann.vector_search(spec, q, model.model_id, 10)
            truth = {s.ref for s in exact.vector_search(spec, q, model.model_id, 10)}
            hits.append(len({s.ref for s in found} & truth) / max(1, len(truth)))
        return round(float(np.mean(hits)), 4)
    finally:
        ann.close()
        exact.close()


def store_searches(layouts: list[str], work: Path, locomo: Path, longmemeval: Path | None, cache: Path | None,
                   spec: str | None, passes: int, modes: list[str], questions: int) -> list[dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    out = []
    for layout in layouts:
        path, texts, who, model = build(layout, work, locomo, longmemeval, cache, spec)
        texts, who = texts[:questions], who[:questions]
        row: dict[str, Any] = {"layout": layout, "questions": len(texts), "modes": []}
        for mode in modes:
            row["modes"].append(time_mode(path, texts, who, model, mode, passes))
        row["dense_recall_at_10"] = dense_recall(path, texts, who, model)
        out.append(row)
    return out


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"min": round(ordered[0], 2), "median": round(ordered[len(ordered) // 2], 2)}
