"""What ``engram bench scale`` writes and asks: real LoCoMo and LongMemEval turns with real
vectors, and real questions embedded before any timing.

Vectors come from the configured embedder behind the on-disk embedding cache
(``bench-out/embeddings.sqlite`` by default): a turn already embedded by an earlier bench run
is read back, any other is embedded once by the real model and added to the cache. The
vectors of a turn are those the embed stage would store: the whole index text, then the
sentence keys.

Beyond the real turns, synthetic memories reuse a real turn: its text with a running number
appended and its vectors plus Gaussian noise (sigma ``NOISE`` per coordinate, re-normalised);
the output counts real and synthetic memories separately (``scale_layouts.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engramdb.bench.longmemeval_data import load as load_longmemeval
from engramdb.core.models import MemoryRecord, Scope
from engramdb.core.ports import Embedder, Keys, Matrix, Vector
from engramdb.embedders.cache import CachedEmbedder, text_key
from engramdb.engine.inputs import make_records
from engramdb.engine.keys import sentence_keys
from engramdb.formats.base import Batch, load_json
from engramdb.formats.detect import parse_file
from engramdb.registry import open_embedder

POOL_QUESTIONS = 100  # LongMemEval questions whose haystacks the pool draws from (whatever --lme-users is)
EMBED_CHUNK = 512  # texts per embedder call while the corpus is prepared


@dataclass(frozen=True)
class Turn:
    """One real turn: the message as imported (no timestamp) and its stored vectors."""

    message: dict[str, Any]
    keys: Keys


@dataclass(frozen=True)
class Haystack:
    """One LongMemEval question: its sessions (one user's memory) and its question."""

    batches: list[Batch]
    question: str


@dataclass
class Corpus:
    pool: list[Turn]  # real turns, distinct texts: LoCoMo first, then LongMemEval haystack turns
    questions: list[str]  # real questions for the one-scope and many-scope layouts
    haystacks: list[Haystack]  # the LongMemEval users
    info: dict[str, Any] = field(default_factory=dict)


def open_models(spec: str | None, cache: Path | None) -> tuple[Embedder, Embedder]:
    """(documents through the cache, the plain model): the cached one prepares the corpus, the
    plain one makes every vector the catch-up measures (one compute thread, pinned)."""
    plain = open_embedder(spec, threads=1) if (spec or "local").startswith("local") else open_embedder(spec)
    return (CachedEmbedder(plain, cache) if cache is not None else plain), plain


def keys_for(records: Sequence[MemoryRecord], embedder: Embedder) -> list[Keys]:
    """The vectors the embed stage stores for each record: whole index text, then sentence keys."""
    texts = [[r.index_text, *sentence_keys(r.content)] for r in records]
    flat = [t for group in texts for t in group]
    parts = [np.asarray(embedder.embed_documents(flat[i:i + EMBED_CHUNK]), dtype=np.float32)
             for i in range(0, len(flat), EMBED_CHUNK)]
    matrix = np.vstack(parts) if parts else np.zeros((0, embedder.dim), np.float32)
    out, start = [], 0
    for group in texts:
        out.append(matrix[start:start + len(group)])
        start += len(group)
    return out


def load_corpus(locomo: Path, longmemeval: Path | None, embedder: Embedder, *, pool_size: int, lme_users: int,
                on_progress: Callable[[int, int], None] | None = None) -> Corpus:
    """The real turns (at most ``pool_size``, distinct texts: LoCoMo's and those of POOL_QUESTIONS
    LongMemEval haystacks) with their vectors, the questions, and the LongMemEval haystacks
    (the lme layout's users; their vectors are looked up when written). Turns and haystacks the
    embedding cache already holds come first."""
    batches = list(parse_file(locomo, fmt="locomo").batches)
    locomo_turns = _distinct(batches)
    questions = [str(q["question"]) for s in load_json(locomo) for q in s["qa"]]
    haystacks: list[Haystack] = []
    known = _cache_keys(embedder)
    if longmemeval is not None:
        loaded, _ = load_longmemeval(longmemeval, None)
        haystacks = _cached_first([Haystack(q.batches, q.query.text) for q in loaded],
                                  lambda h: [m for b in h.batches for m in b.messages], known)
        questions = _interleave(questions, [h.question for h in haystacks[:max(lme_users, POOL_QUESTIONS)]])
        batches += [b for h in haystacks[:POOL_QUESTIONS] for b in h.batches]
    messages: dict[str, dict[str, Any]] = {}
    for b in batches:
        for m in b.messages:
            msg = {k: v for k, v in m.items() if k in ("role", "speaker", "content")}
            messages.setdefault(f"{msg.get('speaker')}\x00{msg['content']}", msg)
    chosen = _cached_first(list(messages.values()), lambda m: [m], known)[:pool_size]
    pool: list[Turn] = []
    step = 2000
    misses = getattr(embedder, "misses", 0)
    for start in range(0, len(chosen), step):
        part = chosen[start:start + step]
        records = make_records(part, Scope(user_id="corpus"))
        pool += [Turn(m, k) for m, k in zip(part, keys_for(records, embedder), strict=True)]
        if on_progress is not None:
            on_progress(len(pool), len(chosen))
    from_locomo = sum(1 for t in pool if f"{t.message.get('speaker')}\x00{t.message['content']}" in locomo_turns)
    info = {"pool_turns": len(pool), "pool_locomo_turns": from_locomo,
            "pool_longmemeval_turns": len(pool) - from_locomo,
            "pool_vectors": int(sum(t.keys.shape[0] for t in pool)), "questions": len(questions),
            "longmemeval_users": len(haystacks), "pool_limit": pool_size,
            "pool_texts_embedded_now": getattr(embedder, "misses", 0) - misses,
            "longmemeval_turns_per_user": [sum(len(b.messages) for b in h.batches) for h in haystacks]}
    return Corpus(pool, questions, haystacks, info)


T = TypeVar("T")


def _cache_keys(embedder: Embedder) -> set[str] | None:
    """The text keys the embedding cache holds for this model (None: no cache)."""
    if not isinstance(embedder, CachedEmbedder) or not embedder.path.is_file():
        return None
    db = sqlite3.connect(f"file:{embedder.path}?mode=ro", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT text_sha256 FROM vectors WHERE model_id = ?",
                                             (embedder.model_id,))}
    finally:
        db.close()


def _cached_first(items: list[T], messages: Callable[[T], list[dict[str, Any]]], known: set[str] | None) -> list[T]:
    """Items whose messages' vectors are all in the embedding cache first, each group in its
    order, so a run embeds only what no earlier run did (the corpus info counts what it did)."""
    if known is None:
        return items
    hit = []
    for item in items:
        records = make_records(messages(item), Scope(user_id="corpus"))
        hit.append(all(text_key(t) in known for r in records for t in (r.index_text, *sentence_keys(r.content))))
    return [i for i, h in zip(items, hit, strict=True) if h] + [i for i, h in zip(items, hit, strict=True) if not h]


def _distinct(batches: Sequence[Batch]) -> set[str]:
    return {f"{m.get('speaker')}\x00{m['content']}" for b in batches for m in b.messages}


def _interleave(a: Sequence[str], b: Sequence[str]) -> list[str]:
    """One of each in turn, then the rest of the longer list."""
    out: list[str] = []
    for x, y in zip(a, b, strict=False):
        out += [x, y]
    longer = a if len(a) > len(b) else b
    return out + list(longer[min(len(a), len(b)):])


class QueryVectors:
    """An embedder whose query vectors are made before timing starts: ``prepare`` embeds each
    query (and a search's own variants of it, asked in an untimed first pass) once;
    ``misses_since`` counts queries embedded after ``mark()``, which a timed pass reports
    (0: no query embedding inside any timed search). Documents go to ``documents``."""

    def __init__(self, queries: Embedder, documents: Embedder) -> None:
        self._queries = queries
        self._documents = documents
        self._cache: dict[str, Vector] = {}
        self.misses = 0
        self._mark = 0

    @property
    def model_id(self) -> str:
        return self._documents.model_id

    @property
    def dim(self) -> int:
        return self._documents.dim

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        return self._documents.embed_documents(texts)

    def embed_query(self, text: str) -> Vector:
        vector = self._cache.get(text)
        if vector is None:
            self.misses += 1
            vector = self._cache[text] = self._queries.embed_query(text)
        return vector

    def prepare(self, texts: Sequence[str]) -> Matrix:
        return np.vstack([self.embed_query(t) for t in texts]).astype(np.float32)

    def mark(self) -> None:
        self._mark = self.misses

    def misses_since(self) -> int:
        return self.misses - self._mark
