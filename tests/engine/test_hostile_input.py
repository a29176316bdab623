"""Hostile and malformed input: a clear EngramError, or handled safely, and never half-written."""

from __future__ import annotations

import io
import sqlite3

import pytest
from tests.support.probe import Probe

from engramdb import EngramError, ImportFormatError, NotFoundError, ScopeError, ValidationError
from engramdb.engine.ingest import MAX_CONTENT_BYTES
from engramdb.stores.sqlite import SQLiteStore

SQL_BOMB = "'); DROP TABLE memories;--"


@pytest.fixture
def seeded(mem):
    mem.add("the baseline memory about sailing", user_id="u")
    return mem


def _unchanged(mem, before: int = 1) -> None:
    assert mem.count(user_id="u") == before
    if isinstance(mem.store, SQLiteStore):
        tables = {r[0] for r in sqlite3.connect(mem.store.conn.path).execute("SELECT name FROM sqlite_master")}
        assert {"memories", "history", "memories_fts"} <= tables
    else:
        tables = {r[0] for r in Probe(mem.store.url).rows(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        assert {"memories", "history", "vectors", "memory_terms"} <= tables


# ---- content ------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["", "   ", "\n\t  \r\n", b"", b"  "])
def test_empty_or_whitespace_content(seeded, content):
    with pytest.raises(ValidationError, match="empty"):
        seeded.add(content, user_id="u")
    _unchanged(seeded)


@pytest.mark.parametrize("content", [None, 42, 3.5, [42], {"content": None}])
def test_content_of_wrong_type(seeded, content):
    with pytest.raises(ValidationError):
        seeded.add(content, user_id="u")
    _unchanged(seeded)


def test_text_over_one_megabyte(seeded):
    with pytest.raises(ValidationError, match="limit"):
        seeded.add("x" * (MAX_CONTENT_BYTES + 1), user_id="u")
    with pytest.raises(ValidationError):
        seeded.add("é" * (MAX_CONTENT_BYTES // 2 + 1), user_id="u")  # 2 bytes each: over in bytes, not chars
    _unchanged(seeded)
    [r] = seeded.add("y" * MAX_CONTENT_BYTES, user_id="u")  # exactly at the limit is fine
    assert len(seeded.get(r.id).content) == MAX_CONTENT_BYTES


@pytest.mark.parametrize("raw", [b"\xff\xfe\xfd", b"caf\xe9", b"ok then \xc3\x28", b"\xed\xa0\x80"])
def test_invalid_utf8_bytes(seeded, raw):
    with pytest.raises(ValidationError, match="UTF-8"):
        seeded.add(raw, user_id="u")
    _unchanged(seeded)


@pytest.mark.parametrize("text", ["lone \ud800 surrogate", "\udfff", "pair-ish \udc00\ud800"])
def test_lone_surrogate_content(seeded, text):
    with pytest.raises(ValidationError, match="UTF-8"):
        seeded.add(text, user_id="u")
    with pytest.raises(ValidationError):
        seeded.add([{"role": "user", "content": text}], user_id="u")
    _unchanged(seeded)


@pytest.mark.parametrize("kwargs", [
    {"metadata": {"note": "bad \ud800"}},
    {"metadata": {"\udfff": 1}},
    {"speaker": "\ud800"},
    {"user_id": "u\ud800"},
])
def test_lone_surrogates_elsewhere_are_rejected_cleanly(seeded, kwargs):
    args = {"user_id": "u", **kwargs}
    with pytest.raises(ValidationError):
        seeded.add("a valid text", **args)
    _unchanged(seeded)


def test_lone_surrogates_in_reads(seeded):
    with pytest.raises(ValidationError):
        seeded.get("id-\ud800")
    with pytest.raises(ValidationError):
        seeded.list(user_id="u", filters={"topic": "\ud800"})
    with pytest.raises(ValidationError, match="UTF-8"):  # as for writes: any embedder's tokenizer chokes on it
        seeded.search("sailing \ud800", user_id="u")


def test_nul_and_control_characters_are_stored_verbatim(mem):
    text = "before\x00after\x07bell\u202eRTL"
    if not isinstance(mem.store, SQLiteStore):  # PostgreSQL text cannot hold U+0000: said, not mangled
        with pytest.raises(ValidationError, match="NUL"):
            mem.add(text, user_id="u")
        assert mem.count(user_id="u") == 0
        text = text.replace("\x00", "")
    [r] = mem.add(text, user_id="u")
    assert mem.get(r.id).content == text


# ---- metadata and scope -----------------------------------------------------------------


@pytest.mark.parametrize("metadata", [
    {"when": object()},
    {"s": {1, 2}},
    {"f": float("nan")},
    {"f": float("inf")},
    {"b": b"bytes"},
    ["not", "a", "dict"],
    "string",
    {"big": "x" * 70_000},
])
def test_bad_metadata(seeded, metadata):
    with pytest.raises(ValidationError):
        seeded.add("valid text", user_id="u", metadata=metadata)
    _unchanged(seeded)


@pytest.mark.parametrize("scope", [
    {},
    {"user_id": None, "agent_id": None, "session_id": None},
    {"user_id": ""},
    {"user_id": "  "},
    {"user_id": 7},
    {"session_id": ["s"]},
])
def test_missing_or_bad_scope(seeded, scope):
    with pytest.raises(ScopeError):
        seeded.add("valid text", **scope)
    with pytest.raises(ScopeError):
        seeded.search("sailing", **scope)
    with pytest.raises(ScopeError):
        seeded.list(**scope)
    _unchanged(seeded)


# ---- batches are all or nothing -------------------------------------------------------------


@pytest.mark.parametrize("third", [
    {"role": "user", "content": ""},
    {"role": "user", "content": "bad \ud800"},
    {"role": "user"},
    {"role": "user", "content": "ok", "timestamp": "not a date"},
    {"role": "user", "content": "ok", "metadata": {"x": object()}},
    {"role": "x" * 500, "content": "ok"},
    42,  # neither a text nor a message object
])
def test_invalid_message_in_a_batch_writes_none(seeded, third):
    batch = [{"role": "user", "content": "first fine message"},
             {"role": "assistant", "content": "second fine message"}, third]
    with pytest.raises(ValidationError):
        seeded.add(batch, user_id="u")
    _unchanged(seeded)
    assert seeded.search("fine message", user_id="u").hits[0].record.content == "the baseline memory about sailing"


def test_empty_batch(seeded):
    with pytest.raises(ValidationError):
        seeded.add([], user_id="u")
    _unchanged(seeded)


# ---- filters --------------------------------------------------------------------------


@pytest.mark.parametrize("filters", [
    {"topic": {"$regex": ".*"}},
    {"topic": {"$where": "1=1"}},
    {"$not": {"topic": "x"}},
    {"$or": []},
    {"$or": {"topic": "x"}},
    {"$and": ["topic"]},
    {"topic": {}},
    {"topic": {"$in": "travel"}},
    {"topic": {"$in": [{"nested": 1}]}},
    {"topic": {"$exists": "yes"}},
    {"topic": {"$gt": [1, 2]}},
    {"topic": {"$eq": {"a": 1}}},
    {"it's": "x"},
    {'a"b': "x"},
    {SQL_BOMB: "x"},
    {"a) OR 1=1 --": "x"},
    {"$.topic": "x"},
    {"a..b": "x"},
    {".a": "x"},
    {"": "x"},
    {"topic\n": "x"},
    {"a[0]": "x"},
    {1: "x"},
    {"event_time": {"$gt": "not a date"}},
    {"event_time": {"$gt": True}},
    "topic = 'x'",
    ["topic"],
])
def test_bad_filters_are_rejected(seeded, filters):
    with pytest.raises(ValidationError):
        seeded.list(user_id="u", filters=filters)
    with pytest.raises(ValidationError):
        seeded.search("sailing", user_id="u", filters=filters)
    _unchanged(seeded)


def test_filter_values_are_data_not_sql(seeded):
    seeded.add("tagged", user_id="u", metadata={"topic": SQL_BOMB})
    assert [r.content for r in seeded.list(user_id="u", filters={"topic": SQL_BOMB})] == ["tagged"]
    assert seeded.list(user_id="u", filters={"topic": "x' OR '1'='1"}) == []
    assert seeded.list(user_id="u", filters={"topic": {"$in": [SQL_BOMB, "' OR 1=1 --"]}})[0].content == "tagged"
    _unchanged(seeded, before=2)


# ---- queries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    '"AND OR (',
    '"unbalanced quote',
    "*",
    "sail*",
    "NEAR(a b)",
    "NEAR(sailing baseline, 2)",
    "content:sailing",
    "col:term",
    "^sailing",
    "sailing AND NOT baseline",
    "(((",
    ")",
    "-sailing",
    "+",
    "{content}: sailing",
    "memories_fts MATCH 'x'",
    SQL_BOMB,
    "\\",
    "%_%",
    "sailing " * 1200,
    "🙂🙂🙂",
    "'",
    "a" * 9_999,
])
def test_query_syntax_is_never_interpreted(seeded, query):
    res = seeded.search(query, user_id="u", k=5)
    assert all(h.record.scope.user_id == "u" for h in res.hits)
    _unchanged(seeded)


def test_fts_operators_are_matched_as_words(mem):
    mem.add("the NEAR clause and the OR keyword", user_id="u")
    mem.add("completely different text", user_id="u")
    hits = mem.search("NEAR OR", user_id="u", k=1).hits
    assert hits[0].record.content == "the NEAR clause and the OR keyword"


@pytest.mark.parametrize("query", ["", "   ", None, 5, b"bytes", "x" * 10_001])
def test_bad_queries(seeded, query):
    with pytest.raises(ValidationError):
        seeded.search(query, user_id="u")


@pytest.mark.parametrize("kwargs", [
    {"k": 0}, {"k": -1}, {"k": 1.5}, {"k": "3"}, {"k": True}, {"k": 10_001},
    {"budget_tokens": 0}, {"budget_tokens": -5}, {"budget_tokens": "100"},
    {"kinds": ["bogus"]}, {"as_of": "the day before yesterday"},
])
def test_bad_search_arguments(seeded, kwargs):
    with pytest.raises(ValidationError):
        seeded.search("sailing", user_id="u", **kwargs)


@pytest.mark.parametrize("kwargs", [
    {"limit": -1}, {"offset": -1}, {"limit": "10"}, {"limit": 2.5},
    {"as_of": "2024-01-01", "include_superseded": True},
])
def test_bad_list_arguments(seeded, kwargs):
    with pytest.raises(ValidationError):
        seeded.list(user_id="u", **kwargs)


# ---- SQL metacharacters are plain data ------------------------------------------------------


def test_sql_metacharacters_in_content_metadata_and_ids(mem):
    nasty = [SQL_BOMB, "Robert'); DROP TABLE history;--", '" OR ""="', "%", "_", "\\'", "; VACUUM;"]
    for s in nasty:
        [r] = mem.add(f"content {s}", user_id=s, agent_id=s, session_id=s, metadata={s.replace(".", ""): s},
                      speaker=s.strip() or "x")
        got = mem.get(r.id, user_id=s)
        assert got.content == f"content {s}" and got.scope.user_id == s
        assert [x.id for x in mem.list(user_id=s)] == [r.id]
        assert mem.search(f"content {s}", user_id=s).hits[0].record.id == r.id
    for s in nasty:
        with pytest.raises(NotFoundError):
            mem.get(s)
        with pytest.raises(NotFoundError):
            mem.delete(s)
        with pytest.raises(NotFoundError):
            mem.history(s)
    assert sum(mem.count(user_id=s) for s in nasty) == len(nasty)
    assert mem.delete_scope(user_id=SQL_BOMB) == 1
    assert sum(mem.count(user_id=s) for s in nasty) == len(nasty) - 1


def test_update_and_supersede_validate_before_writing(seeded):
    [r] = seeded.add("original", user_id="u")
    with pytest.raises(ValidationError):
        seeded.update(r.id)
    with pytest.raises(ValidationError):
        seeded.update(r.id, content="   ")
    with pytest.raises(ValidationError):
        seeded.update(r.id, metadata={"x": object()})
    with pytest.raises(ValidationError):
        seeded.supersede(r.id, "")
    with pytest.raises(NotFoundError):
        seeded.update("nope", content="x")
    assert seeded.get(r.id).version == 1 and seeded.get(r.id).content == "original"
    assert len(seeded.history(r.id)) == 1


# ---- imports ---------------------------------------------------------------------------------


@pytest.mark.parametrize("line", [
    "not json",
    "[1, 2, 3]",
    '{"type": "mystery"}',
    '{"type": "record", "id": "x"}',
    '{"type": "record", "id": "x", "content": "c", "event_time": "nope", "created_at": "2024-01-01", '
    '"user_id": "u"}',
    '{"type": "record", "id": "x", "content": "c", "event_time": "2024-01-01", "created_at": "2024-01-01"}',
    '{"type": "event", "id": "e", "memory_id": "x", "action": "explode", "at": "2024-01-01"}',
])
def test_bad_import_lines_name_the_line_and_write_nothing(seeded, line):
    good = ('{"type": "record", "id": "01GOOD", "user_id": "u", "content": "imported", '
            '"event_time": "2024-01-01T00:00:00+00:00", "created_at": "2024-01-01T00:00:00+00:00"}')
    with pytest.raises(ImportFormatError) as info:
        seeded.import_jsonl(io.StringIO(f"{good}\n\n{line}\n"), source="dump.jsonl")
    assert info.value.line == 3 and "dump.jsonl:3" in str(info.value)
    _unchanged(seeded)


def test_every_error_is_an_engram_error(seeded):
    """The catch-all a caller writes: ``except EngramError`` sees every failure above."""
    calls = [
        lambda: seeded.add(b"\xff", user_id="u"),
        lambda: seeded.add("x", user_id="u", metadata={"d": {1, 2}}),
        lambda: seeded.list(user_id="u", filters={SQL_BOMB: 1}),
        lambda: seeded.get("missing"),
        lambda: seeded.search("", user_id="u"),
        lambda: seeded.add("x"),
    ]
    for call in calls:
        with pytest.raises(EngramError):
            call()
