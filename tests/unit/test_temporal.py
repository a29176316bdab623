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
