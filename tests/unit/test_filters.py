"""The filter language parser: validated trees, normalised values, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engramdb import ValidationError
from engramdb.core.filters import Cond, Group, parse_filters


def test_no_filter():
    assert parse_filters(None) is None
    assert parse_filters({}) is None


def test_plain_equality_addresses_metadata():
    assert parse_filters({"topic": "travel"}) == Cond("metadata.topic", "eq", "travel")
    assert parse_filters({"metadata.topic": "x"}) == Cond("metadata.topic", "eq", "x")
    assert parse_filters({"a.b-c.d_e": 1}) == Cond("metadata.a.b-c.d_e", "eq", 1)


@pytest.mark.parametrize("field", ["kind", "role", "speaker"])
def test_record_fields(field):
    assert parse_filters({field: "x"}) == Cond(field, "eq", "x")


def test_operators():
    tree = parse_filters({"n": {"$gt": 1, "$lte": 9}})
    assert tree == Group("and", (Cond("metadata.n", "gt", 1), Cond("metadata.n", "lte", 9)))
    assert parse_filters({"t": {"$in": ["a", "b"]}}) == Cond("metadata.t", "in", ("a", "b"))
    assert parse_filters({"t": {"$nin": []}}) == Cond("metadata.t", "nin", ())
    assert parse_filters({"t": {"$exists": False}}) == Cond("metadata.t", "exists", False)
    assert parse_filters({"t": {"$ne": None}}) == Cond("metadata.t", "ne", None)


def test_combinators_nest():
    tree = parse_filters({"$or": [{"a": 1}, {"$and": [{"b": 2}, {"kind": "fact"}]}], "c": True})
    assert tree == Group("and", (
        Group("or", (Cond("metadata.a", "eq", 1),
                     Group("and", (Cond("metadata.b", "eq", 2), Cond("kind", "eq", "fact"))))),
        Cond("metadata.c", "eq", True),
    ))


def test_event_time_values_become_epoch_seconds():
    epoch = datetime(2023, 5, 8, 13, 56, tzinfo=UTC).timestamp()
    assert parse_filters({"event_time": {"$gte": "2023-05-08T13:56:00Z"}}) == Cond("event_time", "gte", epoch)
    assert parse_filters({"event_time": {"$gte": "1:56 pm on 8 May, 2023"}}).value == epoch
    assert parse_filters({"event_time": {"$lt": datetime(2023, 5, 8, 13, 56)}}).value == epoch  # naive = UTC
    assert parse_filters({"event_time": {"$lt": int(epoch)}}).value == epoch
    assert parse_filters({"event_time": {"$in": ["2023-05-08T13:56:00Z", epoch]}}).value == (epoch, epoch)


def test_datetime_metadata_values_compare_as_iso_text():
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_filters({"seen": {"$gt": when}}).value == when.isoformat()


@pytest.mark.parametrize("bad", [
    {"$foo": 1}, {"a": {"$foo": 1}}, {"a": {}}, {"$or": []}, {"$or": [1]}, {"$and": {"a": 1}},
    {"a": {"$in": "x"}}, {"a": {"$in": [[1]]}}, {"a": {"$exists": 1}}, {"a": {"$gt": {"b": 1}}},
    {"a": [1, 2]}, {"bad key": 1}, {"a/b": 1}, {"a..b": 1}, {"": 1}, {"a\n": 1}, {"ключ": 1}, {1: "x"},
    {"event_time": "someday"}, {"event_time": {"$gt": False}}, "not a dict", [("a", 1)],
])
def test_invalid_filters(bad):
    with pytest.raises(ValidationError):
        parse_filters(bad)


def test_error_messages_name_the_problem():
    with pytest.raises(ValidationError, match=r"\$regex"):
        parse_filters({"a": {"$regex": "x"}})
    with pytest.raises(ValidationError, match="invalid filter key"):
        parse_filters({"a'b": 1})
