"""PostgreSQL dense windows of big scopes (stores/pg_vectors.py): above the cut-over a search
scores only the windows holding the HNSW index's best turns, instead of every window of the
scope. The exact plan (every window) is the reference: whenever the index's candidates hold the
exact top windows, both plans answer alike, under every kind of read.

The cut-over is lowered through ``ENGRAM_PG_EXACT_WINDOWS_MAX`` (0: every scope through the
index), so that scopes of a few hundred hand-made vectors take the big-scope plan.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from tests.support.pg_fixtures import pg_store

from engramdb.core.filters import parse_filters
from engramdb.core.models import Kind, MemoryRecord, Scope
from engramdb.core.ports import ReadSpec, ScoredList, Store
from engramdb.engine.ingest import Draft, build_records
from engramdb.stores.pg_vectors import ENV_EXACT_WINDOWS_MAX, WINDOW_FANOUT, WINDOW_TURNS

DIM = 32
MODEL = "test:clustered"
SESSION = 20  # turns per session; each session keeps to one topic, as conversations do
TOPICS = 8
EXACT, INDEX = "1000000000", "0"


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def add_sessions(store: Store, user: str, vectors: np.ndarray, *, first: int = 0,
                 expired: frozenset[int] = frozenset()) -> list[MemoryRecord]:
    """``vectors`` as turns of ``user``, SESSION per session, tagged by the session's parity;
    the turns at the positions in ``expired`` expired an hour ago."""
    records: list[MemoryRecord] = []
    for start in range(0, len(vectors), SESSION):
        number = (first + start) // SESSION
        drafts = [Draft(f"{user} turn {first + start + i}", "user", None, None, {})
                  for i in range(min(SESSION, len(vectors) - start))]
        records += build_records(drafts, scope=Scope(user_id=user, session_id=f"s{number}"), kind=Kind.TURN,
                                 timestamp=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=number),
                                 metadata={"parity": "even" if number % 2 == 0 else "odd"})
    past = datetime.now(UTC) - timedelta(hours=1)
    records = [replace(r, expires_at=past) if i in expired else r for i, r in enumerate(records)]
    store.add(records, [v[None, :] for v in vectors], MODEL)
    return records


def clustered(rng: np.random.Generator, centers: np.ndarray, n: int) -> np.ndarray:
    topic = np.repeat(rng.integers(0, len(centers), n // SESSION + 1), SESSION)[:n]
    return unit(centers[topic] + 0.9 * rng.normal(size=(n, DIM)) / np.sqrt(DIM))


def plan(monkeypatch: pytest.MonkeyPatch, store: Store, spec: ReadSpec, query: np.ndarray, cut: str,
         limit: int = 10) -> ScoredList:
    monkeypatch.setenv(ENV_EXACT_WINDOWS_MAX, cut)
    return store.window_vector_search(spec, query, MODEL, limit)


def covered(vectors: np.ndarray, query: np.ndarray, limit: int) -> bool:
    """Whether the windows holding the best ``limit * WINDOW_FANOUT`` turns hold the exact top
    ``limit`` windows (turns in sessions of SESSION, in order): the case the plans must agree on."""
    keys = np.arange(len(vectors))
    starts = keys - keys % SESSION
    scores = np.array([(vectors[max(s, k - WINDOW_TURNS + 1):k + 1] @ query).sum()
                       / np.linalg.norm(vectors[max(s, k - WINDOW_TURNS + 1):k + 1].sum(axis=0))
                       for k, s in zip(keys, starts, strict=True)])
    best = set(np.argsort(-scores, kind="stable")[:limit].tolist())
    holding = set()
    for c in np.argsort(-(vectors @ query), kind="stable")[:limit * WINDOW_FANOUT].tolist():
        holding |= {k for k in range(c, c + WINDOW_TURNS) if k < len(vectors) and starts[k] == starts[c]}
    return best <= holding


def same(a: ScoredList, b: ScoredList) -> None:
    assert [s.ref for s in a] == [s.ref for s in b]
    assert [s.score for s in a] == pytest.approx([s.score for s in b], abs=1e-5)


@pytest.fixture
def scope(request: pytest.FixtureRequest) -> tuple[Store, np.ndarray, np.ndarray, list[MemoryRecord]]:
    """alice: 400 turns on 8 topics; bob: copies of the topic centres, nearer any query than alice's."""
    rng = np.random.default_rng(11)
    centers = unit(rng.normal(size=(TOPICS, DIM)))
    vectors = clustered(rng, centers, 400)
    store = pg_store(request, "windows")
    records = add_sessions(store, "alice", vectors, expired=frozenset({5, 41, 42, 130}))
    add_sessions(store, "bob", np.repeat(centers, 3, axis=0))
    return store, centers, vectors, records


def test_index_plan_returns_the_exact_top_windows(monkeypatch, scope):
    store, centers, vectors, records = scope
    spec = ReadSpec(Scope(user_id="alice"))
    alice = {r.id for r in records}
    rng = np.random.default_rng(5)
    for query in unit(centers + 0.5 * rng.normal(size=centers.shape) / np.sqrt(DIM)):
        assert covered(vectors, query, 10)  # the data is the case the plan promises to answer alike
        exact, near = plan(monkeypatch, store, spec, query, EXACT), plan(monkeypatch, store, spec, query, INDEX)
        same(near, exact)
        assert len(near) >= 10
        assert {r.id for r in store.fetch([s.ref for s in near]).values()} <= alice  # never bob's


@pytest.mark.parametrize("read", ["filters", "kinds", "expiry", "as_of", "valid_at"])
def test_index_plan_reads_what_the_exact_plan_reads(monkeypatch, request, read):
    rng = np.random.default_rng(3)
    centers = unit(rng.normal(size=(TOPICS, DIM)))
    store = pg_store(request, "reads")
    old = clustered(rng, centers, 200)
    add_sessions(store, "alice", old, expired=frozenset({3, 60, 61}))
    add_sessions(store, "bob", np.repeat(centers, 3, axis=0))
    between = datetime.now(UTC)
    time.sleep(0.01)
    add_sessions(store, "alice", clustered(rng, centers, 200), first=200)
    specs = {
        "filters": ReadSpec(Scope(user_id="alice"), filters=parse_filters({"parity": "even"})),
        "kinds": ReadSpec(Scope(user_id="alice"), kinds=(Kind.TURN,)),
        "expiry": ReadSpec(Scope(user_id="alice"), at=datetime.now(UTC)),
        "as_of": ReadSpec(Scope(user_id="alice"), as_of=between),
        "valid_at": ReadSpec(Scope(user_id="alice"), valid_at=datetime(2026, 1, 6, tzinfo=UTC)),
    }
    spec = specs[read]
    for query in centers[:4]:
        exact, near = plan(monkeypatch, store, spec, query, EXACT), plan(monkeypatch, store, spec, query, INDEX)
        same(near, exact)
        assert near
        found = store.fetch([s.ref for s in near])
        assert {r.scope.user_id for r in found.values()} == {"alice"}
        assert len(store.fetch([s.ref for s in near], spec)) == len(near)  # each one visible to the read


def test_the_cut_over_counts_the_scope_turns(monkeypatch, request):
    """A window whose centroid points at the query beats every single turn's window, though its
    members are each further from the query than other turns: the exact plan finds it, the index
    plan with one window wanted (three candidate turns) does not. Which one answers shows the plan."""
    store = pg_store(request, "cut")
    e = np.eye(DIM, dtype=np.float32)
    pair = unit(np.stack([0.7 * e[0] + 0.714 * e[1], 0.7 * e[0] - 0.714 * e[1]]))
    singles = unit(np.stack([0.8 * e[0] + 0.6 * e[k] for k in (2, 3, 4)]))
    records = []
    for i, (vectors, name) in enumerate([(pair, "pair"), *((s[None, :], f"one{k}") for k, s in enumerate(singles))]):
        drafts = [Draft(f"{name} {j}", "user", None, None, {}) for j in range(len(vectors))]
        batch = build_records(drafts, scope=Scope(user_id="u", session_id=name), kind=Kind.TURN,
                              timestamp=datetime(2026, 1, 1 + i, tzinfo=UTC), metadata={})
        store.add(batch, [v[None, :] for v in vectors], MODEL)
        records += batch
    spec = ReadSpec(Scope(user_id="u"))

    def best(cut: str) -> tuple[set[str], float]:
        found = plan(monkeypatch, store, spec, e[0], cut, limit=1)
        texts = {r.content.split()[0] for r in store.fetch([s.ref for s in found]).values()}
        return texts, found[0].score

    assert best(EXACT) == ({"pair"}, pytest.approx(1.0, abs=1e-5))
    assert best(INDEX) == ({"one0"}, pytest.approx(0.8, abs=1e-5))
    assert best("5")[0] == {"pair"}  # 5 turns: not more than the cut-over
    assert best("4")[0] == {"one0"}  # more than 4: the index plan
    monkeypatch.delenv(ENV_EXACT_WINDOWS_MAX)
    assert store.window_vector_search(spec, e[0], MODEL, 1)[0].score == pytest.approx(1.0, abs=1e-5)  # default: exact
    assert len(records) == 5
