"""The keyword tier of big SQLite scopes (stores/keyword_tier.py, keyword_index.py): an
in-memory BM25 index answers as the FTS5 plan does, follows appends, drops itself on any other
change, and leaves filtered reads and other scopes to FTS5.

The threshold is lowered through ``ENGRAM_KEYWORD_MIN_ROWS`` so that a scope of a few hundred
turns takes the tier.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from engramdb.core.filters import Cond, Group, Node
from engramdb.core.models import Kind, MemoryRecord, Scope
from engramdb.core.ports import ReadSpec, Scored
from engramdb.engine.ingest import Draft, build_records
from engramdb.stores.keyword_tier import ENV_MIN_ROWS
from engramdb.stores.sqlite import SQLiteStore

VOCAB = [f"w{i}" for i in range(300)] + ["garden", "tomato", "piano", "marathon", "paris"]
ZIPF = 1.0 / np.arange(1, len(VOCAB) + 1)
ZIPF /= ZIPF.sum()
QUERIES = [["garden"], ["w0", "piano"], ["w3", "w17", "tomato"], ["w150", "w151"], ["marathon", "paris", "w1"],
           ["w42"], ["w2", "w5", "w8", "w13", "w21"]]


def turns(user: str, n: int, rng: np.random.Generator, *, first: int = 0,
          expired: frozenset[int] = frozenset()) -> list[MemoryRecord]:
    """``n`` turns of ``user`` of 3 to 40 Zipf-distributed words, 12 per session."""
    records: list[MemoryRecord] = []
    for start in range(0, n, 12):
        count = min(12, n - start)
        drafts = [Draft(" ".join(rng.choice(VOCAB, size=int(rng.integers(3, 40)), p=ZIPF)), "user", "ann", None, {})
                  for _ in range(count)]
        number = (first + start) // 12
        records += build_records(drafts, scope=Scope(user_id=user, session_id=f"s{number}"), kind=Kind.TURN,
                                 timestamp=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=number), metadata={})
    past = datetime.now(UTC) - timedelta(hours=1)
    return [replace(r, expires_at=past) if i in expired else r for i, r in enumerate(records)]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SQLiteStore]:
    monkeypatch.setenv(ENV_MIN_ROWS, "200")
    s = SQLiteStore(tmp_path / "m.db")
    s.add(turns("big", 480, np.random.default_rng(3), expired=frozenset({5, 77, 300})), None, None)
    yield s
    s.close()


def loaded(store: SQLiteStore, spec: ReadSpec) -> None:
    """Start the scope's build (a first read) and wait for it."""
    store.text_search(spec, ["garden"], 5)
    store.keywords.wait()
    assert store.keywords.loaded() == 1 and not store.keywords.failures


def fts5(store: SQLiteStore, spec: ReadSpec, terms: list[str], limit: int) -> tuple[list[Scored], list[Scored]]:
    saved, store.keywords.min_rows = store.keywords.min_rows, None
    try:
        return store.text_search(spec, terms, limit), store.window_search(spec, terms, limit)
    finally:
        store.keywords.min_rows = saved


def tier(store: SQLiteStore, spec: ReadSpec, terms: list[str]) -> list[Scored] | None:
    """The tier's own answer (None: the read goes to the FTS5 plan)."""
    with store.conn.read() as db:
        return store.keywords.turns(db, spec, terms, 10)


def same(a: list[Scored], b: list[Scored]) -> bool:
    return [s.ref for s in a] == [s.ref for s in b] and all(
        math.isclose(x.score, y.score, rel_tol=1e-9) for x, y in zip(a, b, strict=True))


def assert_parity(store: SQLiteStore, spec: ReadSpec, limit: int = 40) -> None:
    for terms in QUERIES:
        assert tier(store, spec, terms) is not None, terms  # the tier answered, not the FTS5 plan
        turns_, windows = store.text_search(spec, terms, limit), store.window_search(spec, terms, limit)
        want_turns, want_windows = fts5(store, spec, terms, limit)
        assert want_turns and want_windows
        assert same(turns_, want_turns), terms
        assert same(windows, want_windows), terms


def test_tier_ranks_as_fts5_and_hides_expired_rows(store: SQLiteStore) -> None:
    spec = ReadSpec(Scope(user_id="big"))
    assert store.keywords.loaded() == 0
    loaded(store, spec)
    assert_parity(store, spec)
    now = ReadSpec(Scope(user_id="big"), at=datetime.now(UTC))  # expired turns are skipped
    assert_parity(store, now)
    shown = {s.ref for s in store.text_search(now, ["w0"], 500)}
    everything = {s.ref for s in store.text_search(spec, ["w0"], 500)}
    hidden = everything - shown
    assert hidden and {store.fetch([r])[r].expires_at is not None for r in hidden} == {True}


def test_appends_are_folded_in(store: SQLiteStore) -> None:
    spec = ReadSpec(Scope(user_id="big"))
    loaded(store, spec)
    new = turns("big", 30, np.random.default_rng(8), first=480)
    new[4] = replace(new[4], content=new[4].content + " zeppelin")
    store.add(new, None, None)
    found = store.text_search(spec, ["zeppelin"], 5)
    assert [s.ref for s in found] and store.fetch([found[0].ref])[found[0].ref].id == new[4].id
    assert store.keywords.loaded() == 1  # extended, not dropped
    assert_parity(store, spec)


def test_a_delete_drops_the_index_at_once(store: SQLiteStore) -> None:
    spec = ReadSpec(Scope(user_id="big"))
    loaded(store, spec)
    top = store.text_search(spec, ["garden"], 5)[0].ref
    record = store.fetch([top])[top]
    store.delete(record.id)
    assert top not in {s.ref for s in store.text_search(spec, ["garden"], 500)}
    assert top not in {s.ref for s in store.window_search(spec, ["garden"], 500)}
    store.keywords.wait()  # rebuilt in the background, without the deleted row
    assert store.keywords.loaded() == 1
    assert_parity(store, spec)
    assert top not in {s.ref for s in store.text_search(spec, ["garden"], 500)}


def test_filtered_reads_and_other_scopes_keep_fts5(store: SQLiteStore) -> None:
    store.add(turns("small", 40, np.random.default_rng(4)), None, None)
    spec = ReadSpec(Scope(user_id="big"))
    loaded(store, spec)
    kinds = ReadSpec(Scope(user_id="big"), kinds=(Kind.TURN,))
    assert tier(store, kinds, ["garden"]) is None
    small = ReadSpec(Scope(user_id="small"))
    assert tier(store, small, ["w0"]) is None
    small_refs = {s.ref for s in store.text_search(small, ["w0"], 500)}
    big_refs = {s.ref for s in store.text_search(spec, ["w0"], 500)}
    assert small_refs and big_refs and not small_refs & big_refs
    owners = store.fetch(sorted(big_refs))
    assert {r.scope.user_id for r in owners.values()} == {"big"}


def test_archived_and_superseded_rows_follow_the_read(store: SQLiteStore) -> None:
    spec = ReadSpec(Scope(user_id="big"), include_archived=False)
    loaded(store, spec)
    ranked = [s.ref for s in store.text_search(spec, ["garden"], 500)]
    archived, replaced = store.fetch(ranked[:2])[ranked[0]], store.fetch(ranked[:2])[ranked[1]]
    store.archive([archived.id], datetime.now(UTC))
    store.replace(replace(replaced, content="tomato only now"), None, None)
    assert tier(store, spec, ["garden"]) is None  # dropped at once; this read starts the rebuild
    store.keywords.wait()
    assert tier(store, spec, ["garden"]) is not None  # rebuilt: the tier answers again
    hidden = {s.ref for s in store.text_search(spec, ["garden"], 500)}
    assert ranked[0] not in hidden and ranked[1] not in hidden
    assert ranked[0] in {s.ref for s in store.text_search(ReadSpec(Scope(user_id="big")), ["garden"], 500)}
    history = {s.ref for s in store.text_search(ReadSpec(Scope(user_id="big"), include_superseded=True),
                                                ["garden"], 500)}
    assert ranked[1] not in history  # replaced in place: only superseded versions stay readable
    for read in (spec, ReadSpec(Scope(user_id="big")), ReadSpec(Scope(user_id="big"), include_superseded=True)):
        assert_parity(store, read)


def dated(spec: ReadSpec, start: datetime, end: datetime, *, sql: bool = False) -> ReadSpec:
    """The read within [start, end), as a dated question makes it (temporal.window_spec); ``sql``:
    plus a condition every row meets that only SQL evaluates."""
    bounds: tuple[Node, ...] = (Cond("event_time", "gte", start.timestamp()), Cond("event_time", "lt", end.timestamp()))
    if sql:
        bounds += (Cond("metadata.nothing", "exists", False),)
    return replace(spec, filters=Group("and", bounds))


def test_a_dated_question_is_answered_in_memory_as_sql_answers_it(store: SQLiteStore) -> None:
    spec = ReadSpec(Scope(user_id="big"), include_archived=False)
    loaded(store, spec)
    start, end = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 17, tzinfo=UTC)
    inside = dated(spec, start, end)
    assert tier(store, inside, ["w0"]) is not None and tier(store, dated(spec, start, end, sql=True), ["w0"]) is None
    for terms in QUERIES:
        found = store.text_search(inside, terms, 40)
        want = store.text_search(dated(spec, start, end, sql=True), terms, 40)
        assert same(found, want) and same(store.window_search(inside, terms, 40),
                                          store.window_search(dated(spec, start, end, sql=True), terms, 40))
        times = {r.event_time for r in store.fetch([s.ref for s in found]).values()}
        assert all(start <= t < end for t in times)
    assert store.text_search(inside, ["w0"], 500)  # the window holds turns


def test_dated_vector_reads_follow_the_filter(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "v.db")
    rng = np.random.default_rng(2)
    records = turns("u", 120, rng)
    vectors = rng.normal(size=(len(records), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    s.add(records, [v[None, :] for v in vectors], "test:16")
    spec = ReadSpec(Scope(user_id="u"))
    start, end = datetime(2026, 1, 3, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)
    query = vectors[7]
    for _ in range(2):  # the second read from the cached matrix
        found = s.vector_search(dated(spec, start, end), query, "test:16", 20)
        want = s.vector_search(dated(spec, start, end, sql=True), query, "test:16", 20)
        assert [(x.ref, round(x.score, 6)) for x in found] == [(x.ref, round(x.score, 6)) for x in want]
        assert found and all(start <= r.event_time < end for r in s.fetch([x.ref for x in found]).values())
    s.close()


def test_facets_of_held_rows_come_from_the_index_as_sql_gives_them(store: SQLiteStore) -> None:
    from engramdb.stores import sqlite_queries

    store.add(turns("small", 30, np.random.default_rng(6)), None, None)
    spec = ReadSpec(Scope(user_id="big"))
    loaded(store, spec)
    with store.conn.read() as db:
        refs = [int(r[0]) for r in db.execute("SELECT rowid FROM memories ORDER BY rowid")]
        want = sqlite_queries.facets(db, refs)
        known, left = store.keywords.facets(db, refs)
    assert len(known) == 480 and len(left) == 30  # the big scope's rows from memory, the small one's from SQL
    assert store.facets(refs) == want
    store.delete(store.fetch([refs[0]])[refs[0]].id)  # a change: the index no longer answers
    with store.conn.read() as db:
        assert store.keywords.facets(db, refs[1:])[0] == {}
    assert store.facets(refs[1:]) == {r: f for r, f in want.items() if r != refs[0]}
