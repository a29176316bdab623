"""Two times: valid_at reads by event time (what had been said by T), as_of by system time
(what memory held at T, before later updates)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from engramdb import AsyncMemory, Memory


def _diary(mem: Memory) -> str:
    mem.add("I adopted a cat named Pimenta", user_id="sam", timestamp="2024-06-21T08:33:00Z")
    mem.add("Pimenta had three kittens", user_id="sam", timestamp="2024-08-02")
    mem.add("We moved the cat bed to the kitchen", user_id="sam", timestamp="2024-09-10")
    [other] = mem.add("Eve's cat is called Nyx", user_id="eve", timestamp="2024-01-01")
    return other.id


def test_valid_at_keeps_only_what_was_said_by_then(mem: Memory) -> None:
    _diary(mem)
    everything = {h.record.content for h in mem.search("cat", user_id="sam").hits}
    assert len(everything) == 3
    by_july = mem.search("cat", user_id="sam", valid_at="2024-07-01")
    assert [h.record.content for h in by_july.hits] == ["I adopted a cat named Pimenta"]
    listed = mem.list(user_id="sam", valid_at=datetime(2024, 8, 2, tzinfo=UTC))
    assert [r.content for r in listed] == ["I adopted a cat named Pimenta", "Pimenta had three kittens"]
    assert mem.list(user_id="sam", valid_at="2024-01-01") == []


def test_valid_at_combines_with_filters_and_kinds(mem: Memory) -> None:
    _diary(mem)
    mem.add("Pimenta likes tuna", user_id="sam", kind="fact", timestamp="2024-06-30", metadata={"topic": "food"})
    facts = mem.list(user_id="sam", kinds=["fact"], valid_at="2024-07-01")
    assert [r.content for r in facts] == ["Pimenta likes tuna"]
    hits = mem.search("Pimenta", user_id="sam", filters={"topic": "food"}, valid_at="2024-07-01").hits
    assert [h.record.content for h in hits] == ["Pimenta likes tuna"]
    assert mem.search("Pimenta", user_id="sam", filters={"topic": "food"}, valid_at="2024-06-01").hits == ()


def test_as_of_reads_system_time_not_event_time(mem: Memory) -> None:
    _diary(mem)
    [first] = mem.list(user_id="sam", valid_at="2024-07-01")
    assert [r.content for r in mem.list(user_id="sam", as_of=first.updated_at)] == [first.content]
    before_update = datetime.now(UTC)
    mem.update(first.id, content="I adopted a cat named Pimenta; she is orange")
    then = [r.content for r in mem.list(user_id="sam", as_of=before_update)]
    assert "I adopted a cat named Pimenta" in then and len(then) == 3
    hits = mem.search("orange", user_id="sam", as_of=before_update).hits
    assert not any("orange" in h.record.content for h in hits)
    now = [r.content for r in mem.list(user_id="sam")]
    assert "I adopted a cat named Pimenta; she is orange" in now
    # a 2024 system time precedes everything this store learnt
    assert mem.list(user_id="sam", as_of="2024-12-31") == []


def test_valid_at_anchors_relative_time_like_now(mem: Memory) -> None:
    _diary(mem)
    question = "what happened with the cat last month?"
    anchored = mem.search(question, user_id="sam", valid_at="2024-09-15")
    explicit = mem.search(question, user_id="sam", valid_at="2024-09-15", now="2024-09-15")
    assert [h.record.id for h in anchored.hits] == [h.record.id for h in explicit.hits]
    assert [h.score for h in anchored.hits] == [h.score for h in explicit.hits]


def test_async_memory_takes_valid_at(tmp_path: Path) -> None:
    async def go() -> list[str]:
        async with AsyncMemory(tmp_path / "a.db", embedder="hash", background=False) as m:
            _diary(m.sync)
            result = await m.search("cat", user_id="sam", valid_at="2024-07-01")
            listed = await m.list(user_id="sam", valid_at="2024-07-01")
            assert [r.id for r in listed] == [h.record.id for h in result.hits]
            return [h.record.content for h in result.hits]

    assert asyncio.run(go()) == ["I adopted a cat named Pimenta"]
