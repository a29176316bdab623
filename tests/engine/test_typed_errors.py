"""Issue 9 §3: each input that raised an untyped exception (a traceback) is now a typed error."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from engramdb import EmbedderError, ImportFormatError, Memory, ValidationError

MAX_DEPTH = 32  # engramdb.core.bounds.MAX_DEPTH, spelled out so this file runs on older code too

OVERFLOWING = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
               "9999-12-31T23:59:59.9999999"]  # the last rounds to year 10000 once stored as epoch seconds


def nested(depth: int, leaf: object = 1) -> dict[str, object]:
    """{"a": {"a": ... leaf}} with ``depth`` objects."""
    value: object = leaf
    for _ in range(depth):
        value = {"a": value}
    assert isinstance(value, dict)
    return value


@pytest.fixture
def seeded(mem: Memory) -> Memory:
    mem.add("the baseline memory about sailing", user_id="u")
    return mem


# ---- lone surrogates in a query ------------------------------------------------------------


def test_lone_surrogate_query_with_the_default_embedder(tmp_path: Path) -> None:
    mem = Memory(tmp_path / "a.db", background=False)  # the packaged model: its tokenizer raised TypeError
    with pytest.raises(ValidationError, match="UTF-8"):
        mem.search("caf\udce9", user_id="u")
    mem.close()


@pytest.mark.parametrize("query", ["caf\udce9", "\ud800", "ok \udfff ok"])
def test_lone_surrogate_query_is_a_validation_error(seeded: Memory, query: str) -> None:
    with pytest.raises(ValidationError, match="UTF-8"):
        seeded.search(query, user_id="u")


# ---- timestamps whose offset overflows -----------------------------------------------------


@pytest.mark.parametrize("when", OVERFLOWING)
def test_overflowing_timestamps_on_every_path(seeded: Memory, when: str) -> None:
    rid = seeded.list(user_id="u")[0].id
    calls = [
        lambda: seeded.add("x", user_id="u", timestamp=when),
        lambda: seeded.add([{"content": "x", "timestamp": when}], user_id="u"),
        lambda: seeded.update(rid, timestamp=when),
        lambda: seeded.supersede(rid, "y", timestamp=when),
        lambda: seeded.search("sailing", user_id="u", as_of=when),
        lambda: seeded.search("sailing", user_id="u", now=when),
        lambda: seeded.list(user_id="u", as_of=when),
        lambda: seeded.list(user_id="u", filters={"event_time": {"$gt": when}}),
    ]
    for call in calls:
        with pytest.raises(ValidationError, match="outside"):
            call()
    assert [r.content for r in seeded.list(user_id="u")] == ["the baseline memory about sailing"]
    # the edges of the range are stored and read back
    first = seeded.add("first", user_id="u", timestamp="0001-01-01T00:00:00-05:00")[0]
    last = seeded.add("last", user_id="u", timestamp="9999-12-31T23:59:59Z")[0]
    assert seeded.get(first.id).event_time == datetime(1, 1, 1, 5, tzinfo=UTC)
    assert seeded.get(last.id).event_time == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize("when", OVERFLOWING)
def test_overflowing_timestamp_in_an_import_names_the_line(seeded: Memory, when: str) -> None:
    buf = io.StringIO()
    seeded.export_jsonl(buf, user_id="u")
    line = json.loads(buf.getvalue().splitlines()[0])
    line.update(id="01HZZZZZZZZZZZZZZZZZZZZZZZ", event_time=when)
    with pytest.raises(ImportFormatError, match=r"dump\.jsonl:1:"):
        seeded.import_jsonl([json.dumps(line)], source="dump.jsonl")
    assert seeded.count(user_id="u") == 1


def test_timestamp_zero_in_a_message_is_the_epoch(mem: Memory) -> None:
    [r] = mem.add({"content": "e", "timestamp": 0}, user_id="u")
    assert r.event_time == datetime(1970, 1, 1, tzinfo=UTC)
    [r] = mem.add([{"content": "e", "time": 0.0}], user_id="u", timestamp="2024-01-01")
    assert r.event_time == datetime(1970, 1, 1, tzinfo=UTC)


# ---- integers outside SQLite's 64 bits -----------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"limit": 2**63}, {"offset": 2**63}, {"limit": 2**70, "offset": 2**64}])
def test_list_limit_and_offset_beyond_64_bits(seeded: Memory, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match="limit and offset"):
        seeded.list(user_id="u", **kwargs)
    assert len(seeded.list(user_id="u", limit=2**63 - 1, offset=0)) == 1  # the largest one is fine


@pytest.mark.parametrize("filters", [
    {"n": {"$gt": 2**64}}, {"n": 2**63}, {"n": -(2**63) - 1}, {"n": {"$in": [1, 2**64]}},
    {"n": {"$nin": [-(2**100)]}}, {"$or": [{"n": 1}, {"m": {"$lte": 10**30}}]},
])
def test_filter_integers_beyond_64_bits(seeded: Memory, filters: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="64-bit"):
        seeded.list(user_id="u", filters=filters)
    with pytest.raises(ValidationError, match="64-bit"):
        seeded.search("sailing", user_id="u", filters=filters)
    # the 64-bit edges themselves work
    seeded.add("big", user_id="u", metadata={"n": 2**63 - 1})
    assert [r.content for r in seeded.list(user_id="u", filters={"n": {"$gte": 2**63 - 1}})] == ["big"]
    assert seeded.list(user_id="u", filters={"n": {"$lt": -(2**63)}}) == []


# ---- nesting depth -------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
def test_deep_metadata_is_refused_on_every_write(seeded: Memory, depth: int) -> None:
    deep = nested(depth)
    rid = seeded.list(user_id="u")[0].id
    calls = [
        lambda: seeded.add("x", user_id="u", metadata=deep),
        lambda: seeded.add([{"content": "x", "metadata": deep}], user_id="u"),
        lambda: seeded.update(rid, metadata=deep),
        lambda: seeded.supersede(rid, "y", metadata=deep),
    ]
    for call in calls:
        with pytest.raises(ValidationError, match=f"nested more than {MAX_DEPTH} levels"):
            call()
    assert [r.content for r in seeded.list(user_id="u")] == ["the baseline memory about sailing"]
    [r] = seeded.add("x", user_id="u", metadata=nested(MAX_DEPTH))  # at the limit: stored
    assert seeded.get(r.id).metadata == nested(MAX_DEPTH)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
def test_deep_filters_are_refused(seeded: Memory, depth: int) -> None:
    deep: dict[str, object] = {"topic": "x"}
    for _ in range(depth):
        deep = {"$and": [deep]}
    with pytest.raises(ValidationError, match="nested more than"):
        seeded.list(user_id="u", filters=deep)
    with pytest.raises(ValidationError, match="nested more than"):
        seeded.search("sailing", user_id="u", filters=deep)


def test_deep_json_in_an_import_line_names_the_line(seeded: Memory) -> None:
    deep = '{"type": "record", "metadata": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    with pytest.raises(ImportFormatError, match=r"deep\.jsonl:1:"):
        seeded.import_jsonl([deep], source="deep.jsonl")
    assert seeded.count(user_id="u") == 1


# ---- a custom embedder that answers nonsense -----------------------------------------------


class BadEmbedder:
    """Answers like a 4-dimensional embedder, but with a configurable defect."""

    dim = 4
    model_id = "bad-test-embedder"

    def __init__(self, defect: str) -> None:
        self.defect = defect

    def embed_documents(self, texts: list[str]) -> object:
        n = len(texts)
        good = np.full((n, 4), 0.5, dtype=np.float32)
        return {
            "nan": np.where(np.arange(4) == 2, np.nan, good).astype(np.float32),
            "inf": np.where(np.arange(4) == 0, np.inf, good).astype(np.float32),
            "huge": np.full((n, 4), 1e300),  # finite as float64, inf as float32
            "dim": np.full((n, 3), 0.5, dtype=np.float32),
            "count": np.full((n + 1, 4), 0.5, dtype=np.float32),
            "ints": np.ones((n, 4), dtype=np.int64),
            "strings": np.array([["a"] * 4] * n),
            "ragged": [[0.5] * 4, [0.5]] * n,
            "none": None,
        }[self.defect]

    def embed_query(self, text: str) -> object:
        out = self.embed_documents([text])
        return out if self.defect in ("none", "ragged") else out[0]  # type: ignore[index]


DEFECTS = ["nan", "inf", "huge", "dim", "count", "ints", "strings", "ragged", "none"]


@pytest.mark.parametrize("defect", DEFECTS)
def test_bad_embedder_output_stores_nothing(tmp_path: Path, defect: str) -> None:
    mem = Memory(tmp_path / "bad.db", embedder=BadEmbedder(defect), background=False)  # type: ignore[arg-type]
    with pytest.raises(EmbedderError):
        mem.add("hello there", user_id="u")
    with pytest.raises(EmbedderError):
        mem.add(["one", "two"], user_id="u")
    assert mem.count(user_id="u") == 0
    mem.close()


@pytest.mark.parametrize("defect", [d for d in DEFECTS if d != "count"])  # a query is one row
def test_bad_embedder_output_in_search(tmp_path: Path, defect: str) -> None:
    """A query vector that cannot be used is never used: the search answers from the keyword
    lists alone and says why."""
    good = Memory(tmp_path / "bad.db", embedder="hash:4", background=False)
    good.add("hello there", user_id="u")
    good.add("something else entirely", user_id="u")
    good.close()
    mem = Memory(tmp_path / "bad.db", embedder=BadEmbedder(defect), background=False)  # type: ignore[arg-type]
    result = mem.search("hello", user_id="u")
    assert [h.record.content for h in result.hits] == ["hello there"]
    assert all(set(h.sources) <= {"bm25", "window"} for h in result.hits)
    assert any("embedder failed on the query" in w and "keyword-only" in w for w in result.warnings)
    mem.close()


def test_bad_embedder_output_on_update_and_import(tmp_path: Path) -> None:
    good = Memory(tmp_path / "a.db", embedder="hash:4", background=False)
    [r] = good.add("hello there", user_id="u")
    buf = io.StringIO()
    good.export_jsonl(buf)
    good.close()
    mem = Memory(tmp_path / "a.db", embedder=BadEmbedder("nan"), background=False)  # type: ignore[arg-type]
    with pytest.raises(EmbedderError):
        mem.update(r.id, content="changed words")
    assert mem.get(r.id).content == "hello there"
    other = Memory(tmp_path / "b.db", embedder=BadEmbedder("dim"), background=False)  # type: ignore[arg-type]
    with pytest.raises(EmbedderError):
        other.import_jsonl(buf.getvalue().splitlines())
    assert other.count(user_id="u") == 0
    mem.close()
    other.close()
