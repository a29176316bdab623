"""Time-aware queries: find the period a question refers to and prefer memories from it.

Recognised (case-insensitive): full dates ("8 May 2023", "May 8, 2023",
"2023-05-08"), month and year ("in October 2023"), a bare month ("in June",
any year), a bare year ("in 2022"), and expressions relative to ``now``
("yesterday", "last week/month/year/weekend", "3 days ago", "two weeks ago").
Something is usually *said* shortly after it happened, so each window gets
some slack after its end (and a day before its start, for time zones).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from engramdb.core.filters import Cond, Group, Node
from engramdb.core.ports import ReadSpec
from engramdb.retrieval.expand import prefer

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTH = (r"(january|february|march|april|may|june|july|august|september|october|november|december"
          r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)")
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "couple": 2, "few": 3}
SLACK = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class Window:
    """Event-time predicate: inside [start, end), or in ``month`` of any year."""

    start: datetime | None = None
    end: datetime | None = None
    month: int | None = None

    def contains(self, when: datetime) -> bool:
        if self.month is not None:
            inside = when.month == self.month
            follows = when.month == self.month % 12 + 1 and when.day <= SLACK.days
            return inside or follows
        assert self.start is not None and self.end is not None
        return self.start <= when < self.end


def _month_number(word: str) -> int:
    word = word.lower().rstrip(".")
    return MONTHS.get(word, MONTHS.get(word[:3], 0))


def _day_window(day: datetime) -> Window:
    return Window(day - timedelta(days=1), day + timedelta(days=1) + SLACK / 2)


def _span(start: datetime, end: datetime) -> Window:
    return Window(start - timedelta(days=1), end + SLACK)


def parse_window(query: str, now: datetime) -> Window | None:
    """The first time reference found in ``query`` (None when there is none)."""
    q = query.lower()
    for finder in (_full_date, _month_year, _relative, _year, _month_only):
        found = finder(q, now)
        if found is not None:
            return found
    return None


def _full_date(q: str, now: datetime) -> Window | None:
    patterns = (
        (rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH},?\s+(\d{{4}})\b", (1, 2, 3)),  # 8 May 2023
        (rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", (2, 1, 3)),  # May 8, 2023
    )
    for pattern, (d, m, y) in patterns:
        match = re.search(pattern, q)
        if match:
            try:
                day = datetime(int(match.group(y)), _month_number(match.group(m)), int(match.group(d)), tzinfo=UTC)
            except ValueError:
                continue
            return _day_window(day)
    iso = re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", q)
    if iso:
        try:
            return _day_window(datetime(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)), tzinfo=UTC))
        except ValueError:
            return None
    return None


def _month_year(q: str, now: datetime) -> Window | None:
    match = re.search(rf"\b{_MONTH},?\s+(?:of\s+)?(\d{{4}})\b", q)
    if not match:
        return None
    year, month = int(match.group(2)), _month_number(match.group(1))
    last = calendar.monthrange(year, month)[1]
    return _span(datetime(year, month, 1, tzinfo=UTC), datetime(year, month, last, tzinfo=UTC) + timedelta(days=1))


def _year(q: str, now: datetime) -> Window | None:
    match = re.search(r"\b(?:in|during|of|since)\s+((?:19|20)\d{2})\b", q)
    if not match:
        return None
    year = int(match.group(1))
    return _span(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC))


def _month_only(q: str, now: datetime) -> Window | None:
    # only after a preposition: a bare "may" is usually the verb
    match = re.search(rf"\b(?:in|during|since|last|this|early|late|mid)\s+-?{_MONTH}\b", q)
    return Window(month=_month_number(match.group(1))) if match else None


def _relative(q: str, now: datetime) -> Window | None:
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if re.search(r"\byesterday\b", q):
        return _day_window(today - timedelta(days=1))
    if re.search(r"\b(last|past|previous)\s+weekend\b", q):
        saturday = today - timedelta(days=(today.weekday() - 5) % 7 or 7)
        return _span(saturday, saturday + timedelta(days=2))
    unit = re.search(r"\b(last|past|previous)\s+(week|month|year)\b", q)
    if unit:
        days = {"week": 7, "month": 31, "year": 366}[unit.group(2)]
        return Window(today - timedelta(days=days * 2), now + timedelta(days=1))
    ago = re.search(r"\b(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|couple|few)\s+(?:of\s+)?"
                    r"(day|week|month|year)s?\s+ago\b", q)
    if ago:
        n = int(ago.group(1)) if ago.group(1).isdigit() else _NUMBERS[ago.group(1)]
        days = n * {"day": 1, "week": 7, "month": 30, "year": 365}[ago.group(2)]
        center = today - timedelta(days=days)
        spread = timedelta(days=max(2, days // 4))
        return Window(center - spread, center + spread + timedelta(days=1))
    return None


def time_focus(window: Window | None, scores: dict[int, tuple[float, list[str]]],
               times: dict[int, datetime], *, weight: float) -> dict[int, tuple[float, list[str]]]:
    """Scale memories outside the window by 1 / (1 + weight), when any candidate is inside it."""
    if window is None or weight <= 0:
        return scores
    inside = {ref for ref, when in times.items() if window.contains(when)}
    if not inside & scores.keys():
        return scores
    return prefer(scores, inside, weight)


def window_spec(spec: ReadSpec, window: Window) -> ReadSpec | None:
    """The read restricted to a dated window (None for a bare month, which spans every year)."""
    if window.start is None or window.end is None:
        return None
    bounds: tuple[Node, ...] = (Cond("event_time", "gte", window.start.timestamp()),
                                Cond("event_time", "lt", window.end.timestamp()))
    filters = Group("and", bounds if spec.filters is None else (spec.filters, *bounds))
    return replace(spec, filters=filters)
