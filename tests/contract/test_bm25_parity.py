"""Keyword ranking parity between the stores (issue 13 §2).

The PostgreSQL store ranks with SQLite FTS5's BM25 over SQLite's own tokens (stores/pg_terms.py,
pg_bm25.py), so on the same records both stores return the same rows in the same order with the
same scores, for turns and for episode windows. Its term statistics are per user: another user's
text changes none of my scores (in one SQLite file it does: statistics span the file).
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.pg_fixtures import pg_store

from engramdb import Memory
from engramdb.core.models import Scope
from engramdb.core.ports import ReadSpec, Store
from engramdb.retrieval.terms import query_terms
from engramdb.stores import pg_terms
from engramdb.stores.sqlite import SQLiteStore

ALICE = ReadSpec(Scope(user_id="alice"))

# stems, diacritics, apostrophes, hyphens, addresses, numbers, repeats, long and short texts
CORPUS = [
    "I ran to the café this morning; running clears my head.",
    "Running shoes: the runner's best friend. Runs every day!",
    "The naïve plan was to run a marathon in Zürich next spring.",
    "Email me at anna@example.com about the well-known run-club schedule (v2.5).",
    "happy happy happiness — a very happy runner",
    "We moved to Berlin in 2021 and I started a new job at a bakery.",
    "Our dog loves the park; the dog runs after every ball.",
    "Generously, generous people gave the runners water at mile 20.",
    "Café au lait and croissants after the long run.",
    "It's a short note.",
    "I don't like running in the rain, but I do like the rain itself.",
    "The marathon route goes along the river, past the old bakery, over the bridge.",
]
QUERIES = [
    "When did I run to the cafe?",
    "runs running runner",
    "naive plan in zurich",
    "who knows the well-known run club email?",
    "happy",
    "Where did we move in 2021 and what job?",
    "dog park ball",
    "generous people water",
    "cafe croissants",
    "rain",
    "marathon route bakery river bridge",
    "nothing matches this query at all xyzzy",
]


def _chat(texts: list[str]) -> list[dict[str, Any]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "speaker": "Ann" if i % 2 == 0 else "Bo",
             "content": text, "timestamp": f"2024-05-01T10:{i:02d}:00Z"} for i, text in enumerate(texts)]


def _ranked(store: Store, spec: ReadSpec, query: str, windows: bool) -> list[tuple[str, float]]:
    terms = query_terms(query)
    scored = store.window_search(spec, terms, 50) if windows else store.text_search(spec, terms, 50)
    records = store.fetch([s.ref for s in scored])
    return [(records[s.ref].content, round(s.score, 9)) for s in scored]


@pytest.fixture
def both(request: pytest.FixtureRequest) -> Any:
    made = [SQLiteStore(request.getfixturevalue("tmp_path") / "parity.db"), pg_store(request, "parity")]
    mems = [Memory(store=store, embedder="hash", background=False, track_recalls=False) for store in made]
    yield mems
    for m in mems:
        m.close()


@pytest.mark.parametrize("windows", [False, True], ids=["turns", "windows"])
def test_same_rows_order_and_scores_as_sqlite(both, windows):
    for m in both:
        m.add(_chat(CORPUS), user_id="alice", session_id="s1")
        m.add(_chat(CORPUS[::-1][:5]), user_id="alice", session_id="s2")
    sqlite, pg = (m.store for m in both)
    assert isinstance(sqlite, SQLiteStore)
    for query in QUERIES:
        expected = _ranked(sqlite, ALICE, query, windows)
        assert _ranked(pg, ALICE, query, windows) == expected, query
    assert any(_ranked(sqlite, ALICE, q, windows) for q in QUERIES)


def test_parity_holds_through_updates_supersede_and_delete(both):
    for m in both:
        turns = m.add(_chat(CORPUS), user_id="alice", session_id="s1")
        m.update(turns[2].id, content="The naive plan changed: a half marathon in Zurich.")
        m.supersede(turns[5].id, "We moved to Hamburg in 2022.", user_id="alice", session_id="s1",
                    timestamp="2024-05-01T10:05:30Z")
        m.delete(turns[7].id)
        m.add([{"role": "user", "content": "A turn dated in the middle about the bakery run.",
                "timestamp": "2024-05-01T10:03:30Z"}], user_id="alice", session_id="s1")
    sqlite, pg = (m.store for m in both)
    for query in QUERIES:
        for windows in (False, True):
            assert _ranked(pg, ALICE, query, windows) == _ranked(sqlite, ALICE, query, windows), (query, windows)


def test_a_query_word_twice_counts_twice_as_in_fts5(both):
    """'run' and 'running' are one stem: FTS5 scores each quoted query term as a phrase of its own."""
    for m in both:
        m.add(_chat(CORPUS), user_id="alice", session_id="s1")
    sqlite, pg = (m.store for m in both)
    assert pg_terms.query_tokens(["run", "running"]) == ["run", "run"]
    assert _ranked(pg, ALICE, "run running", False) == _ranked(sqlite, ALICE, "run running", False)


def test_another_users_text_changes_none_of_my_scores(store_factory):
    """Statistics per user: no side channel from one user's memories into another's ranking."""
    m = Memory(store=store_factory("stats"), embedder="hash", background=False, track_recalls=False)
    try:
        m.add(_chat(CORPUS), user_id="alice", session_id="s1")
        before = {(q, w): _ranked(m.store, ALICE, q, w) for q in QUERIES for w in (False, True)}
        # bob writes a lot about the words of alice's queries
        m.add(_chat([f"run cafe marathon bakery dog rain happy note {i}" for i in range(40)]), user_id="bob",
              session_id="b1")
        after = {(q, w): _ranked(m.store, ALICE, q, w) for q in QUERIES for w in (False, True)}
        if isinstance(m.store, SQLiteStore):
            assert after != before  # one file, one set of statistics: why the PostgreSQL store keeps them per user
        else:
            assert after == before
            m.delete_scope(user_id="bob")
            assert {(q, w): _ranked(m.store, ALICE, q, w) for q in QUERIES for w in (False, True)} == before
    finally:
        m.close()


def test_erasing_a_user_leaves_no_statistics_of_theirs(store_factory):
    m = Memory(store=store_factory("erase"), embedder="hash", background=False, track_recalls=False)
    try:
        if isinstance(m.store, SQLiteStore):
            pytest.skip("SQLite keeps statistics per file (FTS5), erased with the rows")
        m.add(_chat(["alice talks about tangerines"]), user_id="alice", session_id="s")
        m.add(_chat(["bob's secret word is quokka", "and zebra too"]), user_id="bob", session_id="s")
        m.delete_scope(user_id="bob")
        with m.store.conn.read() as cur:  # type: ignore[attr-defined]
            cur.execute("SELECT count(*) FROM bm25_terms WHERE bucket = 'bob' OR term IN ('quokka', 'zebra')")
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT count(*) FROM bm25_totals WHERE bucket = 'bob'")
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT idx, docs FROM bm25_totals WHERE bucket = 'alice' ORDER BY idx")
            assert cur.fetchall() == [("t", 1), ("w", 1)]
    finally:
        m.close()


def test_tokens_are_sqlite_fts5_tokens():
    counts = pg_terms.tokenize(["Naïve runners' Café-au-lait: anna@example.com runs 2.5 km, don't!"])[0]
    assert counts == {"naiv": 1, "runner": 1, "cafe": 1, "au": 1, "lait": 1, "anna": 1, "exampl": 1, "com": 1,
                      "run": 1, "2": 1, "5": 1, "km": 1, "don": 1, "t": 1}
