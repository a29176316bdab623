"""Packing ranked hits into a token budget: never over, greedy by rank, chronological output."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from engramdb.core.models import Hit, Kind, MemoryRecord, Scope
from engramdb.retrieval.budget import assemble, line_tokens, pack
from engramdb.retrieval.tokens import count_tokens

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


def record(i: int, content: str, *, minutes: int = 0, speaker: str | None = None,
           kind: Kind = Kind.TURN) -> MemoryRecord:
    when = T0 + timedelta(minutes=minutes)
    return MemoryRecord(id=f"{i:026d}", scope=Scope(user_id="u"), kind=kind, content=content,
                        event_time=when, created_at=when, updated_at=when, speaker=speaker)


def hit(i: int, content: str, score: float, **kw) -> Hit:
    rec = record(i, content, **kw)
    return Hit(rec, score, ("bm25",), line_tokens(rec))


def context_of(*hits: Hit) -> str:
    return assemble(list(hits), None)[0]


def test_context_has_date_weekday_speaker_and_kind():
    text = context_of(hit(1, "hello there", 0.9, speaker="Ann"), hit(2, "likes tea", 0.5, kind=Kind.FACT))
    assert "2023-05-08 (Mon) 13:56" in text
    assert "Ann: hello there" in text
    assert "(fact) likes tea" in text
    assert text.index("2023-05-08 (Mon) 13:56") < text.index("Ann: hello there")


def min_budget(hits: list[Hit]) -> int:
    """The smallest budget that packs all of ``hits``."""
    return next(b for b in range(1, 10_000) if len(pack(hits, b)) == len(hits))


def test_no_budget_takes_everything():
    hits = [hit(i, f"memory {i}", 1 - i / 10) for i in range(5)]
    assert pack(hits, None) == hits


def test_greedy_skips_what_does_not_fit_and_keeps_going():
    big = hit(1, "a long memory " * 30, 0.9)
    small = hit(2, "short one", 0.8)
    smaller = hit(3, "tiny", 0.7)
    budget = min_budget([small, smaller])
    assert big.tokens > budget
    assert pack([big, small, smaller], budget) == [small, smaller]
    assert pack([big, small, smaller], budget - 1) == [small]


def test_stops_when_too_little_is_left():
    first = hit(1, "filler text " * 5, 0.9)
    tiny = Hit(record(2, "x"), 0.8, (), 3)  # same group as first: costs just its 3 tokens
    budget = min_budget([first])
    assert pack([first, tiny], budget + 5) == [first]  # 5 tokens left: not worth trying
    assert pack([first, tiny], budget + 8) == [first, tiny]


@pytest.mark.parametrize("seed", range(20))
def test_pack_and_assemble_never_exceed_the_budget(seed):
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "Zürich", "1234", "🙂", "don't", "x" * 12, "\u00e9t\u00e9", "—"]
    hits = [hit(i, f"<{i}> " + " ".join(rng.choice(words) for _ in range(rng.randint(1, 60))), rng.random(),
                minutes=rng.randint(0, 10_000), speaker=rng.choice([None, "Ann", "Bob"])) for i in range(40)]
    hits.sort(key=lambda h: -h.score)
    for budget in (1, 7, 8, 20, 50, 137, 500, 5000):
        chosen = pack(hits, budget)
        assert sum(h.tokens for h in chosen) <= budget
        text, tokens, ordered = assemble(chosen, budget)
        assert tokens == count_tokens(text) <= budget
        assert [h.record.event_time for h in ordered] == sorted(h.record.event_time for h in ordered)
        assert {id(h) for h in ordered} <= {id(h) for h in chosen}
        assert len(ordered) >= len(chosen) - 1  # pack's estimate is honest; BPE merges cost at most one hit
        positions = [text.index(f"<{int(h.record.id)}> ") for h in ordered]
        assert positions == sorted(positions)


def test_line_tokens_counts_the_joining_newline():
    assert line_tokens(record(1, "hello there")) > count_tokens("hello there")


def test_assemble_drops_the_weakest_when_over():
    a = hit(1, "first memory line", 0.9, minutes=2)
    b = hit(2, "second memory line", 0.1, minutes=1)
    c = hit(3, "third memory line", 0.5, minutes=3)
    _, full_tokens, ordered = assemble([a, b, c], None)
    assert [h.record.id for h in ordered] == [b.record.id, a.record.id, c.record.id]  # chronological
    _, tokens, kept = assemble([a, b, c], full_tokens - 1)
    assert b not in kept and tokens <= full_tokens - 1


def test_assemble_empty():
    assert assemble([], 10) == ("", 0, [])
