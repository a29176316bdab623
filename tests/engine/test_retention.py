"""Retention (issue 12 §6): the forgetting curve against hand-computed values, and the recall
statistics a search records (packed memories only, one write after the read, nothing else)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.probe import Probe, Target

from engramdb import Memory
from engramdb.core.models import Kind, Scope
from engramdb.core.ports import ReadSpec, RecallStats
from engramdb.retrieval.retention import (
    S0_DAYS,
    importance_of,
    memory_retention,
    retention,
    retention_focus,
    strength,
)
from engramdb.retrieval.search import SearchParams

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def stats(*, written: datetime = T0, last: datetime | None = None, recalls: int = 0,
          importance: float | None = None) -> RecallStats:
    return RecallStats(1, "m", Kind.FACT, written, last, recalls, importance)


# ---- the formula -------------------------------------------------------------------------------

@pytest.mark.parametrize(("recalls", "importance", "expected"), [
    (0, 0.0, 30.0),  # S0
    (1, 0.0, 60.0),  # 30 * 2 * 1
    (3, 0.0, 120.0),  # 30 * 4 * 1
    (0, 1.0, 60.0),  # 30 * 1 * 2
    (2, 0.5, 135.0),  # 30 * 3 * 1.5
])
def test_strength_is_s0_times_one_plus_recalls_times_one_plus_importance(recalls: int, importance: float,
                                                                         expected: float) -> None:
    assert S0_DAYS == 30.0
    assert strength(recalls, importance) == pytest.approx(expected)


@pytest.mark.parametrize(("dt", "s", "expected"), [
    (0.0, 30.0, 1.0),
    (30.0, 30.0, 0.36787944117144233),  # e^-1
    (20.79441541679836, 30.0, 0.5),  # half-life: S ln 2
    (89.87196820661973, 30.0, 0.05),  # the default archive threshold: S ln 20
    (60.0, 120.0, 0.6065306597126334),  # e^-0.5
    (10.0, 5.0, 0.1353352832366127),  # e^-2
    (-5.0, 30.0, 1.0),  # a clock before the last write counts as dt = 0
])
def test_retention_matches_hand_computed_values(dt: float, s: float, expected: float) -> None:
    assert retention(dt, s) == pytest.approx(expected, rel=1e-12)


def test_the_curve_is_not_memorybanks_precedence_bug() -> None:
    """MemoryBank ships math.exp(-t / 5*S) == exp((-t/5)*S): stronger memories fade faster. Here a
    stronger memory is always retained better, and more recalls or importance mean more strength."""
    t = 10.0
    buggy = [math.exp(-t / 5 * s) for s in (1.0, 2.0, 4.0)]
    assert buggy == sorted(buggy, reverse=True)  # the bug: falls as S grows
    ours = [retention(t, s) for s in (1.0, 2.0, 4.0)]
    assert ours == sorted(ours) and len(set(ours)) == 3  # grows with S
    clock = T0 + timedelta(days=45)
    by_recalls = [memory_retention(stats(recalls=n), clock) for n in range(4)]
    assert by_recalls == sorted(by_recalls) and len(set(by_recalls)) == 4
    assert memory_retention(stats(importance=1.0), clock) > memory_retention(stats(importance=0.2), clock)


def test_memory_retention_counts_from_the_later_of_write_and_last_recall() -> None:
    clock = T0 + timedelta(days=90)
    # never recalled: dt 90 days, S 30: e^-3
    assert memory_retention(stats(), clock) == pytest.approx(math.exp(-3))
    # recalled twice, last 30 days before the clock: dt 30, S 30 * 3 = 90: e^(-1/3)
    assert memory_retention(stats(last=T0 + timedelta(days=60), recalls=2), clock) == pytest.approx(math.exp(-1 / 3))
    # importance 0.5, 12 hours: dt 0.5, S 45
    at = T0 + timedelta(hours=12)
    assert memory_retention(stats(importance=0.5), at) == pytest.approx(math.exp(-0.5 / 45))
    # a custom S0
    assert memory_retention(stats(), clock, s0_days=9.0) == pytest.approx(math.exp(-10))


@pytest.mark.parametrize(("value", "expected"), [
    (None, 0.0), (0.25, 0.25), (1, 1.0), (7, 1.0), (-3, 0.0), (True, 0.0), ("high", 0.0), (float("nan"), 0.0),
])
def test_importance_is_a_number_clamped_to_0_1(value: object, expected: float) -> None:
    assert importance_of(value) == expected


# ---- recall statistics, recorded by search -----------------------------------------------------

def _row(path: str | Path, memory_id: str) -> tuple[int, float | None]:
    return Probe(path).recall_row(memory_id)


def _mutation_seq(path: str | Path) -> int:
    return Probe(path).mutation_seq()


def test_search_counts_a_recall_of_the_memories_it_packed_and_of_no_other(db_target: Target) -> None:
    path = db_target.db
    with Memory(path, embedder="hash", background=False, recall_flush_s=0) as mem:  # written at once
        long = " ".join(["the harbour festival had boats and lanterns and music"] * 40)
        tea, = mem.add("Sam drinks green tea every morning", user_id="u", kind=Kind.NOTE)
        boats, = mem.add(long, user_id="u", kind=Kind.NOTE)  # matches too, but never fits 40 tokens
        other, = mem.add("the weather was mild", user_id="v", kind=Kind.NOTE)
        seq = _mutation_seq(path)
        before = datetime.now(UTC)
        first = mem.search("green tea festival", user_id="u", budget_tokens=40)
        assert [h.record.id for h in first.packed] == [tea.id]
        count, last = _row(path, tea.id)
        assert count == 1 and last is not None and last >= before.timestamp()
        assert _row(path, boats.id) == (0, None)  # found but not packed: not recalled
        assert _row(path, other.id) == (0, None)
        second = mem.search("green tea festival", user_id="u", budget_tokens=40)
        assert _row(path, tea.id)[0] == 2
        assert second.context == first.context  # the recall write changed nothing the read sees
        assert _mutation_seq(path) == seq  # and left the vector caches valid
        assert len(mem.history(tea.id)) == 1  # no history event: a recall is not a change


def test_the_recall_write_does_not_change_the_results_of_its_own_search(db_target: Target) -> None:
    """Even with the retention re-scorer on, a search ranks by the statistics as they were before it."""
    params = SearchParams(retention_weight=1.0)
    with Memory(db_target.db, embedder="hash", background=False, search_params=params) as mem:
        mem.add([f"note {i} about green tea and biscuits" for i in range(6)], user_id="u", kind=Kind.NOTE)
        with Memory(db_target.db, embedder="hash", background=False, search_params=params,
                    track_recalls=False) as twin:
            expected = twin.search("green tea", user_id="u", k=3)
        got = mem.search("green tea", user_id="u", k=3)
        assert [h.record.id for h in got.hits] == [h.record.id for h in expected.hits]
        # equal up to the clock moving on by milliseconds between the two reads
        assert [h.score for h in got.hits] == pytest.approx([h.score for h in expected.hits], rel=1e-6)


def test_recalls_are_buffered_and_written_at_close(db_target: Target) -> None:
    path = db_target.db
    with Memory(path, embedder="hash", background=False, recall_flush_s=3600) as mem:
        rec, = mem.add("Sam drinks green tea", user_id="u", kind=Kind.NOTE)
        for _ in range(3):
            assert mem.search("green tea", user_id="u", budget_tokens=100).packed
        assert _row(path, rec.id) == (0, None)  # noted, not written yet: no write per search
    assert _row(path, rec.id)[0] == 3


def test_track_recalls_false_writes_nothing(db_target: Target) -> None:
    path = db_target.db
    with Memory(path, embedder="hash", background=False, track_recalls=False) as mem:
        rec, = mem.add("Sam drinks green tea", user_id="u", kind=Kind.NOTE)
        assert mem.search("green tea", user_id="u", budget_tokens=100).packed
        assert _row(path, rec.id) == (0, None)


def test_a_search_with_k_counts_the_hits_it_returns(db_target: Target) -> None:
    path = db_target.db
    with Memory(path, embedder="hash", background=False, recall_flush_s=0) as mem:
        recs = mem.add([f"green tea note {i}" for i in range(5)], user_id="u", kind=Kind.NOTE)
        got = mem.search("green tea", user_id="u", k=2)
        counted = {r.id for r in recs if _row(path, r.id)[0] == 1}
        assert counted == {h.record.id for h in got.packed} and len(counted) == 2


# ---- the re-scorer -----------------------------------------------------------------------------

def test_retention_focus_scales_by_one_over_one_plus_weight_times_one_minus_r(db_target: Target) -> None:
    path = db_target.db
    with Memory(path, embedder="hash", background=False) as mem:
        fresh, stale = mem.add(["green tea in the morning", "green tea at night"], user_id="u", kind=Kind.NOTE)
        refs = db_target.probe.refs()
        # fresh: recalled 3 times, last 10 days before the clock; stale: never, written 60 days before
        clock = datetime.now(UTC) + timedelta(days=60)
        db_target.probe.execute("UPDATE memories SET recall_count = 3, last_recalled_at = ? WHERE id = ?",
                                ((clock - timedelta(days=10)).timestamp(), fresh.id))
        spec = ReadSpec(Scope("u"), at=clock)
        scores = {refs[fresh.id]: (0.8, ["bm25"]), refs[stale.id]: (0.8, ["bm25"])}
        out = retention_focus(mem.store, spec, scores, weight=0.5)
        r_fresh = math.exp(-10 / 120)  # ages in whole days: 10 and 60.00001 -> 60
        r_stale = math.exp(-60 / 30)
        assert out[refs[fresh.id]][0] == pytest.approx(0.8 / (1 + 0.5 * (1 - r_fresh)), rel=1e-3)
        assert out[refs[stale.id]][0] == pytest.approx(0.8 / (1 + 0.5 * (1 - r_stale)), rel=1e-3)
        assert out[refs[stale.id]][1] == ["bm25"]
        assert retention_focus(mem.store, spec, scores, weight=0.0) is scores  # off: untouched
        assert retention_focus(mem.store, ReadSpec(Scope("u")), scores, weight=0.5) is scores  # no clock
        # within a day everything is equally fresh: exact ties stay ties
        today = retention_focus(mem.store, ReadSpec(Scope("u"), at=datetime.now(UTC)), scores, weight=0.5)
        assert today[refs[fresh.id]][0] == today[refs[stale.id]][0] == 0.8


def test_whole_days_rounds_the_age_down() -> None:
    clock = T0 + timedelta(days=2, hours=23)
    assert memory_retention(stats(), clock, whole_days=True) == pytest.approx(math.exp(-2 / 30))
    assert memory_retention(stats(), clock) == pytest.approx(math.exp(-(2 + 23 / 24) / 30))
