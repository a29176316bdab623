"""Visibility parity between the stores (issue 13): the same writes (adds, updates, supersessions,
deletes, expiring memories) read back the same on SQLite and PostgreSQL at every point in system
time (``as_of``), in event time (``valid_at``), with superseded versions, by kind and newest
first. Ids and system times differ between two stores; what is compared is what each read
returns, at the moments each store passed through."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support.pg_fixtures import pg_store

from engramdb import Memory
from engramdb.core.models import MemoryRecord, utcnow
from engramdb.stores.sqlite import SQLiteStore

DAY = datetime(2024, 3, 1, tzinfo=UTC)


def at(days: float) -> str:
    return (DAY + timedelta(days=days)).isoformat()


def play(m: Memory) -> list[datetime]:
    """One history of writes; returns the moments between them (system time)."""
    marks = [utcnow()]

    def mark() -> None:
        marks.append(utcnow())

    turns = m.add([{"role": "user", "content": f"turn {i} about the garden", "timestamp": at(i)} for i in range(6)],
                  user_id="u", session_id="s")
    mark()
    city = m.add("Sam lives in Lisbon", user_id="u", kind="fact", timestamp=at(1), subject="sam",
                 attribute="city")[0]
    job = m.add("Sam works at the bakery", user_id="u", kind="fact", timestamp=at(2))[0]
    m.add("a note that expires", user_id="u", kind="note", timestamp=at(2), expires_at=at(400))
    m.add("a note that expired", user_id="u", kind="note", timestamp=at(2), expires_at="2020-01-01T00:00:00Z")
    mark()
    m.update(turns[2].id, content="turn 2 about the garden and the roses")
    mark()
    m.update(turns[4].id, timestamp=at(4.5))
    mark()
    berlin = m.supersede(city.id, "Sam lives in Berlin", timestamp=at(10))
    mark()
    m.supersede(berlin.id, "Sam lives in Porto", timestamp=at(20))
    mark()
    m.update(job.id, content="Sam works at the library", timestamp=at(12))
    mark()
    m.delete(turns[3].id)
    mark()
    m.add("another user's note", user_id="v", kind="note", timestamp=at(3))
    mark()
    return marks


def shape(records: list[MemoryRecord]) -> list[tuple[Any, ...]]:
    return [(r.content, r.kind.value, r.version, r.event_time, r.valid_to, r.superseded_at is not None,
             r.expires_at) for r in records]


def reads(m: Memory, marks: list[datetime]) -> list[Any]:
    out: list[Any] = []
    for t in marks:
        out.append(shape(m.list(user_id="u", as_of=t, limit=1000)))
        out.append(shape(m.list(user_id="u", as_of=t, valid_at=at(15), limit=1000)))
    for days in (-1, 0, 1.5, 5, 11, 15, 25):
        out.append(shape(m.list(user_id="u", valid_at=at(days), limit=1000)))
    out.append(shape(m.list(user_id="u", include_superseded=True, limit=1000)))
    out.append(shape(m.list(user_id="u", newest_first=True, limit=3, offset=1)))
    out.append(shape(m.list(user_id="u", kinds=["fact"], include_superseded=True, limit=1000)))
    out.append(shape(m.list(user_id="u", session_id="s", limit=1000)))
    out.append([m.count(user_id="u"), m.count(user_id="v"), m.count(user_id="u", session_id="s")])
    out.append([(s.user_id, s.session_id, s.memories, s.sessions, s.first, s.last) for s in m.scopes(by_session=True)])
    return out


@pytest.fixture
def both(request: pytest.FixtureRequest) -> Iterator[list[Memory]]:
    made = [Memory(store=SQLiteStore(request.getfixturevalue("tmp_path") / "vis.db"), embedder="hash",
                   background=False),
            Memory(store=pg_store(request, "vis"), embedder="hash", background=False)]
    yield made
    for m in made:
        m.close()


def test_every_read_sees_the_same_records_in_both_stores(both: list[Memory]) -> None:
    marks = [play(m) for m in both]
    seen = [reads(m, t) for m, t in zip(both, marks, strict=True)]
    assert len({repr(r) for r in seen[0][:2 * len(marks[0]):2]}) >= 8  # time travel sees the history change
    for i, (mine, theirs) in enumerate(zip(*seen, strict=True)):
        assert mine == theirs, f"read {i}"
