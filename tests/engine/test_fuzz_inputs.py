"""Property: whatever a caller throws at the facade, each call either succeeds or raises an
EngramError subclass, and the database stays sound (SQLite and FTS5 integrity checks).

Profiles (tests/conftest.py): ``ci`` (default, derandomized, a few hundred examples in all)
and ``deep`` (thousands): ``ENGRAM_HYPOTHESIS_PROFILE=deep pytest tests/engine/test_fuzz_inputs.py -s``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engramdb import EngramError, Memory

RUNS: Counter[str] = Counter()  # examples run per property, printed at the end (pytest -s)

# ---- strategies ------------------------------------------------------------------------

ANY_CHAR = st.characters(exclude_categories=())  # surrogates, NUL and control characters included
ODD_STRINGS = st.sampled_from([
    "", " ", "\x00", "a\x00b", "\udce9", "caf\udce9", "\ud800\udc00", "\u2028\u0085", "\x1b[31m",
    '"', "AND", "OR NOT", "NEAR(", "*", "^a", "a:b", "(", "'); DROP TABLE memories;--",
    "x" * 1_000_001, "é" * 500_001, "word " * 20_000, "\n" * 5000,
])
TEXT = st.one_of(st.text(ANY_CHAR, max_size=60), st.text(max_size=300), ODD_STRINGS)
NAME = st.one_of(st.sampled_from(["u", "v"]), TEXT, st.just("n" * 201), st.none())
NUMBER = st.one_of(
    st.integers(), st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1]),
    st.floats(), st.booleans(),
)
JSON_LEAF = st.one_of(st.none(), NUMBER, st.text(ANY_CHAR, max_size=20))
JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(ANY_CHAR, max_size=8), inner, max_size=4)), max_leaves=20)


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value} if depth % 2 else [value]
    return value


DEEP = st.integers(min_value=1, max_value=3000).map(_nest)
WIDE = st.integers(min_value=1, max_value=20_000).map(lambda n: {f"k{i}": i for i in range(n)})
METADATA = st.one_of(st.none(), JSON, DEEP, WIDE, st.dictionaries(st.sampled_from(["topic", "n"]), JSON_LEAF))
OFFSETS = st.integers(min_value=-23 * 60, max_value=23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
TIMES = st.one_of(
    st.none(), NUMBER, TEXT, st.datetimes(), st.datetimes(timezones=OFFSETS),
    st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "9999-12-31T23:59:59.9999999",
                     "0001-01-01", "2024-02-30", "1e400", "²", "-62135596801", "253402300800", "nan", "inf"]),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)).map(lambda d: d.isoformat()),
)
FIELD = st.sampled_from(["topic", "n", "kind", "role", "speaker", "event_time", "metadata.x.y", "bad key!", "$or"])
OP = st.sampled_from(["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$bogus"])
FILTER_VALUE = st.one_of(JSON_LEAF, TIMES, st.lists(JSON_LEAF, max_size=5), st.just([1] * 1001))
FILTERS = st.one_of(
    st.none(), JSON, DEEP,
    st.dictionaries(FIELD, st.one_of(FILTER_VALUE, st.dictionaries(OP, FILTER_VALUE, max_size=2)), max_size=3),
    st.lists(st.dictionaries(FIELD, FILTER_VALUE, max_size=2), max_size=3).map(lambda xs: {"$or": xs}),
)
MESSAGE = st.one_of(TEXT, st.fixed_dictionaries({"content": TEXT}, optional={
    "role": NAME, "name": NAME, "timestamp": TIMES, "time": TIMES, "metadata": METADATA}))
CONTENT = st.one_of(TEXT, st.binary(max_size=40), MESSAGE, st.lists(MESSAGE, max_size=4), JSON)
KIND = st.one_of(st.none(), st.sampled_from(["turn", "fact", "note", "summary", "profile"]), TEXT)

# ---- the store under test ----------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Memory]:
    mem = Memory(tmp_path_factory.mktemp("fuzz") / "fuzz.db", embedder="hash", background=False)
    mem.add([{"role": "user", "content": "I adopted a cat called Miso", "timestamp": "2024-05-08"},
             {"role": "assistant", "content": "Congratulations on Miso!"}], user_id="u", session_id="s")
    mem.add("the sea is calm today", user_id="u", metadata={"topic": "sea", "n": 3})
    yield mem
    mem.close()
    print("\nhypothesis examples run:", dict(RUNS), "total", sum(RUNS.values()))


def attempt(name: str, call: Callable[[], object]) -> None:
    """The property: the call succeeds or raises an EngramError; anything else fails the test."""
    RUNS[name] += 1
    with contextlib.suppress(EngramError):
        call()


def assert_sound(mem: Memory) -> None:
    db = sqlite3.connect(mem.store.conn.path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        for table in ("memories_fts", "windows_fts"):
            db.execute(f"INSERT INTO {table}({table}) VALUES('integrity-check')")  # raises when corrupt
        for rec in mem.list(user_id="u", limit=1000):  # and everything stored reads back
            assert mem.get(rec.id).content == rec.content
    finally:
        db.close()


def some_id(mem: Memory, pick: int, raw: str) -> str:
    ids = [r.id for r in mem.list(user_id="u", limit=50)]
    return ids[pick % len(ids)] if ids and pick >= 0 else raw


# ---- properties ----------------------------------------------------------------------------


def test_add(fuzzed: Memory) -> None:
    @given(content=CONTENT, user=NAME, session=NAME, timestamp=TIMES, metadata=METADATA, kind=KIND,
           role=NAME, speaker=NAME)
    def run(content: Any, user: Any, session: Any, timestamp: Any, metadata: Any, kind: Any, role: Any,
            speaker: Any) -> None:
        attempt("add", lambda: fuzzed.add(content, user_id=user, session_id=session, timestamp=timestamp,
                                          metadata=metadata, kind=kind, role=role, speaker=speaker))
    run()
    assert_sound(fuzzed)


def test_search(fuzzed: Memory) -> None:
    @given(query=TEXT, user=NAME, k=st.one_of(st.none(), NUMBER), budget=st.one_of(st.none(), NUMBER),
           filters=FILTERS, as_of=TIMES, now=TIMES)
    def run(query: Any, user: Any, k: Any, budget: Any, filters: Any, as_of: Any, now: Any) -> None:
        attempt("search", lambda: fuzzed.search(query, user_id=user, k=k, budget_tokens=budget, filters=filters,
                                                as_of=as_of, now=now))
    run()
    assert_sound(fuzzed)


def test_list_and_filters(fuzzed: Memory) -> None:
    @given(limit=NUMBER, offset=NUMBER, filters=FILTERS, kinds=st.one_of(st.none(), st.lists(KIND, max_size=3)),
           as_of=TIMES, everything=st.booleans())
    def run(limit: Any, offset: Any, filters: Any, kinds: Any, as_of: Any, everything: bool) -> None:
        attempt("list", lambda: fuzzed.list(user_id="u", limit=limit, offset=offset, filters=filters, kinds=kinds,
                                            as_of=as_of, include_superseded=everything))
    run()
    assert_sound(fuzzed)


def test_update_and_supersede(fuzzed: Memory) -> None:
    @given(pick=st.integers(min_value=-1, max_value=100), raw=TEXT, content=st.one_of(st.none(), TEXT),
           metadata=METADATA, timestamp=TIMES, supersede=st.booleans())
    def run(pick: int, raw: str, content: Any, metadata: Any, timestamp: Any, supersede: bool) -> None:
        rid = some_id(fuzzed, pick, raw)
        if supersede:
            attempt("supersede", lambda: fuzzed.supersede(rid, content, metadata=metadata, timestamp=timestamp,
                                                          user_id="u"))
        else:
            attempt("update", lambda: fuzzed.update(rid, content=content, metadata=metadata, timestamp=timestamp,
                                                    user_id="u"))
    run()
    assert_sound(fuzzed)


def _export_lines(mem: Memory) -> list[dict[str, Any]]:
    buf = io.StringIO()
    mem.export_jsonl(buf, user_id="u")
    return [json.loads(line) for line in buf.getvalue().split("\n") if line][:20]  # not splitlines: U+2028


def test_import_jsonl(fuzzed: Memory) -> None:
    template = _export_lines(fuzzed)
    fields = sorted({key for line in template for key in line})

    @given(which=st.integers(min_value=0, max_value=len(template) - 1), field=st.sampled_from(fields),
           value=st.one_of(JSON, TIMES, TEXT, DEEP), raw=st.lists(TEXT, max_size=3), fresh_id=st.booleans())
    def run(which: int, field: str, value: Any, raw: list[str], fresh_id: bool) -> None:
        line = dict(template[which])
        line[field] = value
        if fresh_id and line.get("type") == "record":
            line["id"] = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
        try:
            text = json.dumps(line)
        except (TypeError, ValueError, RecursionError):  # not JSON at all: send raw text instead
            text = "{"
        attempt("import_jsonl", lambda: fuzzed.import_jsonl([text, *raw], source="fuzz.jsonl"))
    run()
    assert_sound(fuzzed)
