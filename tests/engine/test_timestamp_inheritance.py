"""Issue 9 §4: an undated message takes its time from the message before it in the same call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engramdb import Memory
from engramdb.engine.ingest import Batch

MS = timedelta(milliseconds=1)
MAY_8 = datetime(2024, 5, 8, 13, 56, tzinfo=UTC)


def test_an_undated_reply_follows_the_dated_message_before_it(mem: Memory) -> None:
    recs = mem.add([{"role": "user", "content": "I adopted a cat called Miso", "timestamp": MAY_8.isoformat()},
                    {"role": "assistant", "content": "Congratulations on Miso!"},
                    {"role": "user", "content": "Thanks"}], user_id="u", session_id="s")
    assert [r.event_time for r in recs] == [MAY_8, MAY_8 + MS, MAY_8 + 2 * MS]
    res = mem.search("Miso cat", user_id="u", k=3)
    assert res.context.count("2024-05-08") == 1 and str(datetime.now(UTC).year) not in res.context


def test_a_later_dated_message_resets_the_clock(mem: Memory) -> None:
    later = datetime(2024, 6, 1, tzinfo=UTC)
    recs = mem.add([{"content": "a", "timestamp": MAY_8.isoformat()}, {"content": "b"},
                    {"content": "c", "timestamp": later.isoformat()}, {"content": "d"}], user_id="u")
    assert [r.event_time for r in recs] == [MAY_8, MAY_8 + MS, later, later + MS]


def test_the_call_timestamp_dates_undated_messages_before_any_dated_one(mem: Memory) -> None:
    recs = mem.add([{"content": "a"}, {"content": "b"}, {"content": "c", "timestamp": MAY_8.isoformat()},
                    {"content": "d"}], user_id="u", timestamp="2023-01-01T00:00:00Z")
    start = datetime(2023, 1, 1, tzinfo=UTC)
    assert [r.event_time for r in recs] == [start, start + MS, MAY_8, MAY_8 + MS]


def test_without_any_time_the_first_message_is_now(mem: Memory) -> None:
    before = datetime.now(UTC)
    recs = mem.add(["one", "two"], user_id="u")
    assert before <= recs[0].event_time <= datetime.now(UTC)
    assert recs[1].event_time == recs[0].event_time + MS


def test_inheritance_is_per_batch_in_add_many(mem: Memory) -> None:
    mem.add_many([
        Batch([{"content": "s1 dated", "timestamp": MAY_8.isoformat()}, {"content": "s1 undated"}],
              user_id="u", session_id="s1"),
        Batch([{"content": "s2 undated"}], user_id="u", session_id="s2"),
    ])
    got = {r.content: r.event_time for r in mem.list(user_id="u")}
    assert got["s1 undated"] == MAY_8 + MS
    assert got["s2 undated"] > datetime(2025, 1, 1, tzinfo=UTC)  # a new call: now, not s1's time
