"""PostgreSQL search plans that read less than the whole scope (stores/pg_vectors.py, pg_bm25.py),
each checked against the plan it replaces on a real server:

- dense turns of a small scope are scored exactly from the scope's rows (``ENGRAM_PG_EXACT_TURNS_MAX``)
  instead of walking the HNSW graph of every user's vectors with a scope filter; the index plan
  (cut-over 0) is the reference, and on a few hundred vectors it is exact too;
- BM25 in a user's scope scores only the rows that can be among the best (the max-score bound):
  the same rows, in the same order, with the same scores, bit for bit, as scoring every row that
  holds any query word (``rank`` without a bucket), under every kind of read.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from tests.support.pg_fixtures import pg_store

from engramdb.core.filters import parse_filters
from engramdb.core.models import Kind, Scope
from engramdb.core.ports import ReadSpec, Store
from engramdb.engine.ingest import Draft, build_records
from engramdb.stores import pg_bm25, pg_terms
from engramdb.stores.pg_sql import visibility_clause
from engramdb.stores.pg_vectors import ENV_EXACT_TURNS_MAX

DIM = 16
MODEL = "test:plans"
SESSION = 10
COMMON = ["plan", "trip", "friend", "work", "home", "day", "time", "music"]
RARE = [f"rare{i}" for i in range(40)]


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def text(rng: np.random.Generator) -> str:
    """Mostly common words (each in many rows), now and then a rare one, repeated words too."""
    words = list(rng.choice(COMMON, size=int(rng.integers(3, 12)), p=np.linspace(2, 1, len(COMMON)) / 12))
    if rng.random() < 0.3:
        words.append(str(rng.choice(RARE)))
    return " ".join(words)


def add(store: Store, user: str, n: int, rng: np.random.Generator, *, first_day: int = 0) -> None:
    for start in range(0, n, SESSION):
        day = first_day + start // SESSION
        drafts = [Draft(text(rng), "user", None, None, {}) for _ in range(min(SESSION, n - start))]
        records = build_records(drafts, scope=Scope(user_id=user, session_id=f"{user}-s{day}"), kind=Kind.TURN,
                                timestamp=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day),
                                metadata={"parity": "even" if day % 2 == 0 else "odd"})
        store.add(records, [unit(rng.normal(size=(1, DIM))) for _ in records], MODEL)


@pytest.fixture
def store(request: pytest.FixtureRequest) -> tuple[Store, datetime]:
    """alice: 300 turns, then 100 more after ``between``; bob: 200 turns of the same words."""
    rng = np.random.default_rng(7)
    s = pg_store(request, "plans")
    add(s, "alice", 300, rng)
    add(s, "bob", 200, rng)
    between = datetime.now(UTC)
    time.sleep(0.01)
    add(s, "alice", 100, rng, first_day=30)
    return s, between


def reads(between: datetime) -> dict[str, ReadSpec]:
    alice = Scope(user_id="alice")
    return {
        "plain": ReadSpec(alice),
        "filters": ReadSpec(alice, filters=parse_filters({"parity": "even"})),
        "kinds": ReadSpec(alice, kinds=(Kind.TURN,)),
        "as_of": ReadSpec(alice, as_of=between),
        "valid_at": ReadSpec(alice, valid_at=datetime(2026, 1, 6, tzinfo=UTC)),
    }


@pytest.mark.parametrize("read", ["plain", "filters", "kinds", "as_of", "valid_at"])
def test_exact_turns_read_what_the_index_reads(monkeypatch, store, read):
    s, between = store
    spec = reads(between)[read]
    rng = np.random.default_rng(1)
    for query in unit(rng.normal(size=(5, DIM))):
        monkeypatch.setenv(ENV_EXACT_TURNS_MAX, "0")
        near = s.vector_search(spec, query, MODEL, 20)
        monkeypatch.setenv(ENV_EXACT_TURNS_MAX, "1000000")
        exact = s.vector_search(spec, query, MODEL, 20)
        assert [h.ref for h in exact] == [h.ref for h in near]
        assert [h.score for h in exact] == pytest.approx([h.score for h in near], abs=1e-6)
        assert len(s.fetch([h.ref for h in exact], spec)) == len(exact) > 0  # each one visible, all alice's


def test_a_small_scope_is_read_whole(monkeypatch, store):
    """A scope of fewer rows than the limit: the exact plan returns every one of them, best first."""
    s, _ = store
    monkeypatch.setenv(ENV_EXACT_TURNS_MAX, "1000000")
    spec = ReadSpec(Scope(user_id="bob"))
    found = s.vector_search(spec, unit(np.ones(DIM)), MODEL, 1000)
    assert len(found) == 200
    assert [h.score for h in found] == sorted((h.score for h in found), reverse=True)
    assert {r.scope.user_id for r in s.fetch([h.ref for h in found]).values()} == {"bob"}


QUERIES = [
    ["plan", "trip", "rare3"],
    ["friend", "home", "rare7", "rare11"],
    ["plan", "plan", "music", "rare1"],  # a repeated word counts twice, as in FTS5
    ["day", "time", "work", "home"],  # common words only
    ["rare5", "rare9"],
    ["music", "unknownword", "trip"],
]


@pytest.mark.parametrize("read", ["plain", "filters", "kinds", "as_of", "valid_at"])
@pytest.mark.parametrize("index", ["t", "w"])
@pytest.mark.parametrize("find", [0, 10**9], ids=["score-essential", "find-above-theta"])
def test_pruned_bm25_is_the_full_ranking(monkeypatch, store, read, index, find):
    """The last round scores the essential words' rows, or first finds the rows whose words'
    bounds exceed theta (``_FIND_PER_SCORE``): both give the full ranking."""
    s, between = store
    monkeypatch.setattr(pg_bm25, "_PRUNE_MIN_POSTINGS", 0)  # prune even these few rows
    monkeypatch.setattr(pg_bm25, "_FIND_PER_SCORE", find)
    spec = reads(between)[read]
    where, params = visibility_clause(spec)
    scored: list[str] = []
    score = pg_bm25._score

    def counting(cur, index, tokens, tsq, where, params, limit):  # type: ignore[no-untyped-def]
        scored.append(tsq)
        return score(cur, index, tokens, tsq, where, params, limit)

    monkeypatch.setattr(pg_bm25, "_score", counting)
    pruned = 0
    with s.conn.read() as cur:  # type: ignore[attr-defined]
        for words in QUERIES:
            tokens = pg_terms.query_tokens(words)
            for limit in (5, 20, 1000):
                full = pg_bm25.rank(cur, index, tokens, pg_terms.tsquery(tokens), where, params, limit)
                scored.clear()
                fast = pg_bm25.rank(cur, index, tokens, pg_terms.tsquery(tokens), where, params, limit, "alice")
                assert [(h.ref, h.score) for h in fast] == [(h.ref, h.score) for h in full], (words, limit)
                pruned += all(q != pg_terms.tsquery(tokens) for q in scored)
    assert pruned > 0  # some rankings never scored the rows of every query word


def test_pruned_bm25_through_the_store(monkeypatch, store):
    """text_search and window_search take the pruned plan for a user's scope and answer as before."""
    s, between = store
    spec = reads(between)["plain"]
    for words in QUERIES:
        monkeypatch.setattr(pg_bm25, "_PRUNE_MIN_POSTINGS", 10**9)
        full = s.text_search(spec, words, 10), s.window_search(spec, words, 10)
        monkeypatch.setattr(pg_bm25, "_PRUNE_MIN_POSTINGS", 0)
        assert (s.text_search(spec, words, 10), s.window_search(spec, words, 10)) == full


def test_statements_are_planned_for_their_parameters(store):
    """psycopg prepares a statement run five times; PostgreSQL's generic plan for it, made without
    the user id, would read every user's full-text rows for a small user: the store's sessions
    plan each execution for its own parameters."""
    s, _ = store
    for _ in range(8):  # past psycopg's prepare threshold, on whichever pooled connection
        with s.conn.read() as cur:  # type: ignore[attr-defined]
            cur.execute("SELECT current_setting('plan_cache_mode')")
            row = cur.fetchone()
            assert row is not None and row[0] == "force_custom_plan"
