"""The memories of one scale run, in chunks ready for ``Store.add``, and the exact top-k that
the ANN recall is measured against.

Layouts:

- ``one``: every memory in one scope (user ``scale``), sessions of SESSION_TURNS turns;
- ``many``: users of PER_USER memories each (1M memories: 10,000 users), sessions of
  SESSION_TURNS turns; a user holds consecutive turns of the pool (one conversation's);
- ``lme``: one user per LongMemEval question holding that question's haystack (~500 real
  turns with real vectors, nothing synthetic); the size is the number of users.

Memory ``i`` of the one/many layouts is pool turn ``i % len(pool)``: the first pass over the
pool is real (text and vectors); later passes are synthetic (see scale_corpus.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from engramdb.bench.scale_corpus import Corpus, Haystack, Turn
from engramdb.core.models import Kind, MemoryRecord, Scope
from engramdb.core.ports import Keys, Matrix
from engramdb.engine.ingest import Draft, build_records
from engramdb.engine.inputs import make_records

LAYOUTS = ("one", "many", "lme")
SESSION_TURNS = 20
PER_USER = 100
NOISE = 0.02  # sigma per coordinate of the synthetic memories' vectors (unit vectors, dim 384: ~0.4 in norm)
CHUNK = 2000  # memories per write transaction while filling
ONE_USER = "scale"
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Chunk:
    records: list[MemoryRecord]
    keys: list[Keys]
    real: int  # memories whose text and vectors are a real turn's, unchanged


def user_of(layout: str, i: int) -> str:
    """The user of memory ``i`` (one/many) or of haystack ``i`` (lme)."""
    if layout == "one":
        return ONE_USER
    return f"u{i // PER_USER:06d}" if layout == "many" else f"lme{i:04d}"


def users(layout: str, size: int) -> list[str]:
    if layout == "one":
        return [ONE_USER]
    if layout == "many":
        return [user_of(layout, i) for i in range(0, size, PER_USER)]
    return [user_of(layout, i) for i in range(size)]


def synthetic(turn: Turn, i: int, rng: np.random.Generator) -> tuple[dict[str, object], Keys]:
    """A real turn made distinct: its text with a running number, its vectors with noise."""
    noisy = turn.keys + rng.normal(0.0, NOISE, size=turn.keys.shape).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    return {**turn.message, "content": f"{turn.message['content']} (#{i})"}, noisy.astype(np.float32)


def pool_chunks(corpus: Corpus, layout: str, size: int, rng: np.random.Generator) -> Iterator[Chunk]:
    """Memories 0..size-1 of the one or many layout, CHUNK per chunk, whole sessions each."""
    pool = corpus.pool
    for start in range(0, size, CHUNK):
        end = min(size, start + CHUNK)
        records: list[MemoryRecord] = []
        keys: list[Keys] = []
        real = 0
        for first in range(start, end, SESSION_TURNS):
            drafts, session_keys = [], []
            for i in range(first, min(end, first + SESSION_TURNS)):
                turn = pool[i % len(pool)]
                message, vectors = (turn.message, turn.keys) if i < len(pool) else synthetic(turn, i, rng)
                real += i < len(pool)
                drafts.append(Draft(str(message["content"]), _opt(message.get("role")), _opt(message.get("speaker")),
                                    None, {}))
                session_keys.append(vectors)
            user = user_of(layout, first)
            session = f"s{first // SESSION_TURNS:07d}"
            records += build_records(drafts, scope=Scope(user_id=user, session_id=session), kind=Kind.TURN,
                                     timestamp=EPOCH + timedelta(hours=first // SESSION_TURNS), metadata={})
            keys += session_keys
        yield Chunk(records, keys, real)


def lme_chunks(haystacks: Sequence[Haystack], keys_for: Callable[[Sequence[MemoryRecord]], list[Keys]]
               ) -> Iterator[Chunk]:
    """One chunk per LongMemEval user: the haystack's sessions as imported, real vectors."""
    for n, hay in enumerate(haystacks):
        records: list[MemoryRecord] = []
        for b in hay.batches:
            records += make_records(b.messages, Scope(user_id=user_of("lme", n), session_id=b.session_id))
        yield Chunk(records, keys_for(records), len(records))


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


class ExactTopK:
    """The exact top-k memory ids by cosine of the whole-text vector, for each query within its
    target user, kept while the memories are written (no second pass over the store)."""

    def __init__(self, queries: Matrix, targets: Sequence[str], k: int) -> None:
        self.queries = queries
        self.k = k
        self.targets = list(targets)
        self._by_user: dict[str, list[int]] = {}
        for q, user in enumerate(targets):
            self._by_user.setdefault(user, []).append(q)
        self.best: list[list[tuple[float, str]]] = [[] for _ in targets]

    def add(self, chunk: Chunk) -> None:
        rows: dict[str, list[int]] = {}
        for i, rec in enumerate(chunk.records):
            if rec.scope.user_id in self._by_user:
                rows.setdefault(str(rec.scope.user_id), []).append(i)
        for user, idx in rows.items():
            first = np.vstack([chunk.keys[i][0] for i in idx])
            qs = self._by_user[user]
            scores = first @ self.queries[qs].T
            for col, q in enumerate(qs):
                merged = self.best[q] + [(float(scores[r, col]), chunk.records[idx[r]].id)
                                         for r in np.argsort(-scores[:, col])[:self.k]]
                self.best[q] = sorted(merged, reverse=True)[:self.k]

    def ids(self, q: int) -> list[str]:
        return [memory_id for _, memory_id in self.best[q]]
