"""The retrieval methods a benchmark compares, all over the same store and embedder.

- ``bm25``: the store's full-text BM25 over raw turns;
- ``dense``: exact cosine over the raw turns' vectors;
- ``hybrid``: reciprocal-rank fusion of the two;
- ``random``: a seeded random order of the scope's turns (a control: any
  method worth its keep must beat it by far);
- ``engramdb``: :meth:`engramdb.Memory.search`, the default pipeline, called
  as a user calls it (never copied here, so its improvements show up).

Baselines rank ``POOL_DEPTH`` candidates once and pack that ranked list into
each budget with the same ``retrieval.budget`` functions and token counter the
pipeline uses (a pool deep enough to fill the largest budget with short
turns). Ranking metrics look at the top ``RANK_DEPTH`` of every method; for
engramdb that is ``search(k=RANK_DEPTH)``, which keeps the default candidate
depth, so its list is exactly what a caller asking for any k <= 100 gets.
Methods see only the question text and its scope.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from engramdb.core.models import Hit, MemoryRecord, Scope
from engramdb.core.ports import ReadSpec, Scored
from engramdb.engine.memory import Memory
from engramdb.retrieval.budget import assemble, line_tokens, pack
from engramdb.retrieval.fusion import rrf
from engramdb.retrieval.terms import query_terms

METHODS = ("bm25", "dense", "hybrid", "engramdb", "random")
BASELINES = ("bm25", "dense", "hybrid")  # what engramdb's ratio is taken against (random is a control)
POOL_DEPTH = 200  # candidates per list a baseline ranks and packs budgets from
RANK_DEPTH = 100  # hits per question the ranking metrics see (MRR is MRR@100)
LATENCY_BUDGET = 1000
FETCH_CHUNK = 40


@dataclass(frozen=True, slots=True)
class Query:
    """Everything a method may know about a question: its text, its scope and when it is asked
    (``now`` anchors "last week"; only the engramdb pipeline uses it)."""

    qid: str
    text: str
    user_id: str
    now: str | None = None


@dataclass
class Retrieval:
    """What one method returned for one question."""

    ranked: list[MemoryRecord]
    packed: dict[int, list[MemoryRecord]] = field(default_factory=dict)
    context_tokens: dict[int, int] = field(default_factory=dict)
    contexts: dict[int, str] = field(default_factory=dict)
    latency_ms: float = 0.0


class Method:
    """A ranked-list baseline: rank once, then pack the list into every budget."""

    name = "method"

    def __init__(self, mem: Memory, *, depth: int = POOL_DEPTH) -> None:
        self.mem = mem
        self.depth = depth

    def candidates(self, query: Query) -> list[Scored]:
        raise NotImplementedError

    def retrieve(self, query: Query, budgets: Sequence[int], keep_context: int | None = None) -> Retrieval:
        hits, latency_ms = self.ranked_hits(query)
        out = Retrieval([h.record for h in hits[:RANK_DEPTH]], latency_ms=latency_ms)
        for budget in budgets:
            text, tokens, ordered = assemble(pack(hits, budget), budget)
            out.packed[budget] = [h.record for h in ordered]
            out.context_tokens[budget] = tokens
            if budget == keep_context:
                out.contexts[budget] = text
        return out

    def ranked_hits(self, query: Query) -> tuple[list[Hit], float]:
        """Every candidate as a hit, and the latency of a LATENCY_BUDGET search: the clock stops once
        that budget is packed from the prefix fetched so far (as the pipeline does), so the depth
        the benchmark asks for costs the baselines nothing."""
        t0 = time.perf_counter()
        scored = self.candidates(query)
        hits: list[Hit] = []
        latency_ms = 0.0
        for start in range(0, len(scored), FETCH_CHUNK):
            hits += self._fetch(scored[start:start + FETCH_CHUNK])
            last = start + FETCH_CHUNK >= len(scored)
            if not latency_ms and (last or sum(h.tokens for h in hits) >= 2 * LATENCY_BUDGET):
                assemble(pack(hits, LATENCY_BUDGET), LATENCY_BUDGET)
                latency_ms = (time.perf_counter() - t0) * 1000
        return hits, latency_ms or (time.perf_counter() - t0) * 1000  # no candidate at all

    def _spec(self, query: Query) -> ReadSpec:
        return ReadSpec(Scope(user_id=query.user_id))

    def _fetch(self, scored: Sequence[Scored]) -> list[Hit]:
        records = self.mem.store.fetch([s.ref for s in scored])
        return [Hit(records[s.ref], s.score, (self.name,), line_tokens(records[s.ref]))
                for s in scored if s.ref in records]


class BM25(Method):
    name = "bm25"

    def candidates(self, query: Query) -> list[Scored]:
        return self.mem.store.text_search(self._spec(query), query_terms(query.text), self.depth)


class Dense(Method):
    name = "dense"

    def candidates(self, query: Query) -> list[Scored]:
        vec = self.mem.embedder.embed_query(query.text)
        return self.mem.store.vector_search(self._spec(query), vec, self.mem.embedder.model_id, self.depth)


class Hybrid(Method):
    name = "hybrid"

    def candidates(self, query: Query) -> list[Scored]:
        spec = self._spec(query)
        keyword = self.mem.store.text_search(spec, query_terms(query.text), self.depth)
        vec = self.mem.embedder.embed_query(query.text)
        dense = self.mem.store.vector_search(spec, vec, self.mem.embedder.model_id, self.depth)
        fused = rrf({"bm25": keyword, "dense": dense})[: self.depth]
        return [Scored(ref, score) for ref, score, _ in fused]


class RandomOrder(Method):
    """A seeded shuffle of the scope's turns; the order depends only on (seed, question id)."""

    name = "random"

    def __init__(self, mem: Memory, *, depth: int = POOL_DEPTH, seed: int = 0) -> None:
        super().__init__(mem, depth=depth)
        self.seed = seed
        self._scopes: dict[str, list[MemoryRecord]] = {}

    def ranked_hits(self, query: Query) -> tuple[list[Hit], float]:
        t0 = time.perf_counter()
        records = self._scopes.get(query.user_id)
        if records is None:
            records = self.mem.list(user_id=query.user_id, limit=1_000_000)
            self._scopes = {query.user_id: records}  # questions come grouped by scope; keep one
        order = list(records)
        random.Random(f"{self.seed}:{query.qid}").shuffle(order)
        n = len(order)
        hits = [Hit(r, 1.0 - i / max(n, 1), (self.name,), line_tokens(r)) for i, r in enumerate(order[: self.depth])]
        assemble(pack(hits, LATENCY_BUDGET), LATENCY_BUDGET)
        return hits, (time.perf_counter() - t0) * 1000


class Engram(Method):
    """engramdb's own pipeline, through the public API."""

    name = "engramdb"

    def retrieve(self, query: Query, budgets: Sequence[int], keep_context: int | None = None) -> Retrieval:
        ranked = self.mem.search(query.text, user_id=query.user_id, k=RANK_DEPTH, now=query.now)
        out = Retrieval([h.record for h in ranked.hits])
        for budget in budgets:
            t0 = time.perf_counter()
            result = self.mem.search(query.text, user_id=query.user_id, budget_tokens=budget, now=query.now)
            if budget == LATENCY_BUDGET:
                out.latency_ms = (time.perf_counter() - t0) * 1000
            out.packed[budget] = [h.record for h in result.packed]
            out.context_tokens[budget] = result.context_tokens
            if budget == keep_context:
                out.contexts[budget] = result.context
        return out


def make_methods(names: Sequence[str], mem: Memory, *, seed: int, depth: int = POOL_DEPTH) -> list[Method]:
    table: dict[str, Method] = {
        "bm25": BM25(mem, depth=depth), "dense": Dense(mem, depth=depth), "hybrid": Hybrid(mem, depth=depth),
        "engramdb": Engram(mem, depth=depth), "random": RandomOrder(mem, depth=depth, seed=seed),
    }
    return [table[n] for n in names]


def parse_methods(text: str) -> list[str]:
    """``"bm25,engramdb"`` -> names in the canonical order; ValidationError on unknown names."""
    from engramdb.core.errors import ValidationError

    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - set(METHODS))
    if unknown or not names:
        raise ValidationError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    return [m for m in METHODS if m in names]
