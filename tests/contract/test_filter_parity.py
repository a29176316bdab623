"""Filter parity between the stores (issue 13): the same filter selects the same records on SQLite
and on PostgreSQL, across JSON types, missing keys, nulls, nesting, booleans, mixed-type
comparisons and ``$in``/``$nin`` lists (pg_sql.py compiles metadata comparisons to behave as
SQLite's json_extract does), and on record fields."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.support.pg_fixtures import pg_store

from engramdb import Memory
from engramdb.stores.sqlite import SQLiteStore

METADATA: list[dict[str, Any]] = [
    {"n": 1, "s": "apple", "b": True, "tag": "x"},
    {"n": 2.5, "s": "Banana", "b": False, "nested": {"k": "v", "deep": {"x": 3}}},
    {"n": -3, "s": "cherry", "tag": None},
    {"n": "7", "s": "date", "list": [1, 2]},
    {"n": 10, "s": "", "obj": {}},
    {"s": "éclair", "n": 1.0, "b": 1},
    {"n": 9223372036854775807, "s": "zz", "b": 0},
    {},
    {"n": None, "s": None},
    {"s": "Apple", "n": 0, "tag": "y"},
]
SPEAKERS = ["Sam", "anna", None, "Zoë", "sam", "Ben", None, "Ann", "7", "ann"]

FILTERS: list[dict[str, Any]] = [
    {"n": 1}, {"n": 1.0}, {"n": "7"}, {"n": 7}, {"n": True}, {"n": None},
    {"n": {"$ne": 1}}, {"n": {"$ne": None}}, {"n": {"$ne": "7"}},
    {"n": {"$gt": 1}}, {"n": {"$gte": 1}}, {"n": {"$lt": 2.5}}, {"n": {"$lte": -3}},
    {"n": {"$gt": "5"}}, {"n": {"$lt": "a"}}, {"n": {"$gt": None}},
    {"n": {"$gt": 9223372036854775806}},
    {"s": "apple"}, {"s": {"$gt": "apple"}}, {"s": {"$lt": "Banana"}}, {"s": {"$gte": ""}},
    {"s": {"$lt": 5}}, {"s": {"$gt": 5}}, {"s": {"$ne": "apple"}},
    {"b": True}, {"b": False}, {"b": 1}, {"b": 0}, {"b": {"$ne": True}}, {"b": {"$gt": 0}},
    {"tag": None}, {"tag": {"$exists": True}}, {"tag": {"$exists": False}}, {"tag": {"$ne": None}},
    {"nested.k": "v"}, {"nested.deep.x": {"$gte": 3}}, {"nested.k": {"$exists": True}},
    {"nested": {"$exists": True}}, {"obj": {"$exists": True}},
    {"n": {"$in": [1, "7", None]}}, {"n": {"$in": [2.5, -3, 42]}}, {"n": {"$in": []}},
    {"n": {"$nin": [1, 2.5]}}, {"n": {"$nin": [None, 1]}}, {"n": {"$nin": []}},
    {"s": {"$in": ["apple", "Apple", "nope"]}}, {"s": {"$nin": ["apple", "", "zz"]}},
    {"b": {"$in": [True]}}, {"b": {"$nin": [False]}},
    {"$or": [{"n": {"$gt": 5}}, {"s": "apple"}]}, {"$and": [{"n": {"$gte": 0}}, {"s": {"$ne": "zz"}}]},
    {"$or": [{"tag": "x"}, {"$and": [{"b": False}, {"n": {"$gt": 2}}]}]},
    {"speaker": "Sam"}, {"speaker": None}, {"speaker": {"$ne": "Sam"}}, {"speaker": {"$gt": "ann"}},
    {"speaker": {"$lt": "Sam"}}, {"speaker": {"$in": ["anna", "Ann", None]}}, {"speaker": {"$nin": ["Ben"]}},
    {"speaker": {"$exists": False}}, {"speaker": 7}, {"speaker": {"$gte": 7}},
    {"kind": "fact"}, {"kind": {"$ne": "note"}}, {"kind": {"$in": ["fact", "turn"]}},
    {"event_time": {"$gte": "2024-01-05T00:00:00+00:00"}}, {"event_time": {"$lt": 1704585600}},
    {"event_time": {"$gt": datetime(2024, 1, 3, tzinfo=UTC)}},
]


def _fill(m: Memory) -> dict[str, int]:
    """The same records in each store; returns id -> position (ids differ between the stores)."""
    out = {}
    for i, (meta, speaker) in enumerate(zip(METADATA, SPEAKERS, strict=True)):
        kind = ("note", "fact", "turn")[i % 3]
        [rec] = m.add(f"record number {i}", user_id="u", session_id="s", metadata=meta, speaker=speaker,
                      kind=kind, timestamp=f"2024-01-{i + 1:02d}T00:00:00+00:00")
        out[rec.id] = i
    return out


@pytest.fixture
def both(request: pytest.FixtureRequest) -> Iterator[list[tuple[Memory, dict[str, int]]]]:
    made = [Memory(store=SQLiteStore(request.getfixturevalue("tmp_path") / "filters.db"), embedder="hash",
                   background=False),
            Memory(store=pg_store(request, "filters"), embedder="hash", background=False)]
    yield [(m, _fill(m)) for m in made]
    for m in made:
        m.close()


def test_every_filter_selects_the_same_records_in_both_stores(both: list[tuple[Memory, dict[str, int]]]) -> None:
    mismatches = []
    for f in FILTERS:
        found = [sorted(positions[r.id] for r in m.list(user_id="u", filters=f, limit=100))
                 for m, positions in both]
        if found[0] != found[1]:
            mismatches.append((f, found[0], found[1]))
    assert mismatches == []


def test_filters_select_something_and_not_everything(both: list[tuple[Memory, dict[str, int]]]) -> None:
    """The corpus makes the filters discriminate (a parity of empty results would prove little)."""
    m, _ = both[0]
    sizes = [len(m.list(user_id="u", filters=f, limit=100)) for f in FILTERS]
    assert sum(0 < n < len(METADATA) for n in sizes) >= len(FILTERS) * 2 // 3


KEYS = ["n", "s", "b", "tag", "nested.k", "nested.deep.x", "list", "missing", "speaker", "kind"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 12), st.sampled_from([2.5, -3.0, 1.0, 0.5]),
                    st.sampled_from(["apple", "Apple", "", "7", "zz", "v", "Sam", "ann", "fact", "note", "é"]))


@st.composite
def filters(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    if depth < 2 and draw(st.integers(0, 4)) == 0:
        op = draw(st.sampled_from(["$and", "$or"]))
        return {op: draw(st.lists(filters(depth + 1), min_size=1, max_size=3))}
    key = draw(st.sampled_from(KEYS))
    op = draw(st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"]))
    if op == "$exists":
        return {key: {op: draw(st.booleans())}}
    if op in ("$in", "$nin"):
        return {key: {op: draw(st.lists(SCALARS, max_size=4))}}
    return {key: {op: draw(SCALARS)}}


@given(data=st.data())
def test_random_filters_select_the_same_records(both: list[tuple[Memory, dict[str, int]]], data: st.DataObject) -> None:
    f = data.draw(filters())
    found = [sorted(positions[r.id] for r in m.list(user_id="u", filters=f, limit=100)) for m, positions in both]
    assert found[0] == found[1], f
