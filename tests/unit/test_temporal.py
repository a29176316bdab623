"""Time references in queries -> event-time windows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engramdb.retrieval.temporal import Window, parse_window, time_focus

NOW = datetime(2023, 6, 6, 12, 0, tzinfo=UTC)


def d(y: int, m: int, day: int) -> datetime:
    return datetime(y, m, day, tzinfo=UTC)


@pytest.mark.parametrize("query, inside, outside", [
    ("What did Gina find on 1 February, 2023?", [d(2023, 2, 1), d(2023, 2, 5)], [d(2023, 1, 20), d(2023, 3, 1)]),
    ("What painting did she show on October 13, 2023?", [d(2023, 10, 13)], [d(2023, 10, 1), d(2022, 10, 13)]),
    ("what happened on 2023-05-08", [d(2023, 5, 8)], [d(2023, 6, 8)]),
    ("What setback did she face in October 2023?", [d(2023, 10, 2), d(2023, 11, 10)], [d(2023, 9, 1), d(2023, 12, 1)]),
    ("How many times did she go to the beach in 2023?", [d(2023, 7, 1)], [d(2022, 7, 1)]),
    ("When did Melanie go camping in June?", [d(2021, 6, 3), d(2023, 7, 10)], [d(2023, 7, 20), d(2023, 5, 30)]),
    ("What did I buy last week?", [d(2023, 6, 1)], [d(2023, 4, 1)]),
    ("What did I do two weeks ago?", [d(2023, 5, 23)], [d(2023, 6, 5), d(2023, 4, 1)]),
    ("What did I eat yesterday?", [d(2023, 6, 5)], [d(2023, 5, 1)]),
])
def test_windows(query: str, inside: list[datetime], outside: list[datetime]) -> None:
    window = parse_window(query, NOW)
    assert window is not None
    assert all(window.contains(t) for t in inside)
    assert not any(window.contains(t) for t in outside)


@pytest.mark.parametrize("query", ["May I ask you something?", "What is my cat called?", "I have 2023 coins"])
def test_no_time_reference(query: str) -> None:
    assert parse_window(query, NOW) is None


def test_impossible_day_falls_back_to_its_month() -> None:
    window = parse_window("on 31 February, 2023", NOW)
    assert window is not None and window.contains(d(2023, 2, 20)) and not window.contains(d(2023, 1, 20))


def test_time_focus_demotes_only_when_something_is_inside() -> None:
    scores = {1: (0.9, ["bm25"]), 2: (0.5, ["dense"])}
    window = Window(d(2023, 1, 1), d(2023, 2, 1))
    times = {1: d(2022, 5, 1), 2: d(2023, 1, 10)}
    focused = time_focus(window, scores, times, weight=1.0)
    assert focused[2][0] == 0.5 and focused[1][0] == pytest.approx(0.45)
    nothing_inside = {1: d(2020, 1, 1), 2: d(2020, 1, 2)}
    assert time_focus(window, scores, nothing_inside, weight=1.0) == scores
    assert time_focus(None, scores, times, weight=1.0) == scores


def test_window_spec_bounds_the_read_and_keeps_its_filters() -> None:
    from engramdb.core.filters import Cond, Group, parse_filters
    from engramdb.core.models import Scope
    from engramdb.core.ports import ReadSpec
    from engramdb.retrieval.temporal import window_spec

    base = ReadSpec(Scope(user_id="u"), filters=parse_filters({"topic": "travel"}))
    spec = window_spec(base, Window(d(2023, 5, 1), d(2023, 5, 8)))
    assert spec is not None and spec.scope == base.scope
    assert isinstance(spec.filters, Group) and spec.filters.op == "and"
    assert base.filters in spec.filters.items
    bounds = {(c.op, c.value) for c in spec.filters.items if isinstance(c, Cond) and c.field == "event_time"}
    assert bounds == {("gte", d(2023, 5, 1).timestamp()), ("lt", d(2023, 5, 8).timestamp())}
    assert window_spec(base, Window(month=5)) is None  # a bare month spans every year


def test_dated_question_reaches_a_turn_that_words_alone_rank_low(tmp_path) -> None:
    from engramdb import Memory
    from engramdb.retrieval.search import SearchParams

    m = Memory(tmp_path / "m.db", embedder="hash",
               search_params=SearchParams(candidates=5, window_weight=0.0, neighbour_top=0), background=False)
    for i in range(30):  # unrelated talk, so that "dish" is a rare word
        m.add(f"the weather on walk {chr(97 + i % 26)} was mild", user_id="u", session_id=f"w{i}",
              timestamp=d(2022, 2, 1 + i % 28))
    for i, name in enumerate(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]):
        m.add(f"Nate made a dish, his {name} dish", user_id="u", session_id=f"s{i}",  # long before
              timestamp=d(2022, 1, 1 + i))
    target = m.add("Nate tried homemade coconut ice cream, a new dish", user_id="u", session_id="late",
                   timestamp=d(2022, 11, 9))[0]
    q = "What dish did Nate make on 9 November, 2022?"
    hits = m.search(q, user_id="u", k=5, now=d(2022, 11, 20)).hits
    off = Memory(tmp_path / "m.db", embedder="hash",
                 search_params=SearchParams(candidates=5, window_weight=0.0, neighbour_top=0, time_candidates=0),
                              background=False)
    hits_off = off.search(q, user_id="u", k=5, now=d(2022, 11, 20)).hits
    assert target.id in {h.record.id for h in hits}
    assert target.id not in {h.record.id for h in hits_off}  # the extra candidates are what found it
    m.close()
    off.close()
