"""Timestamps from chat exports and benchmarks become aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from engramdb import ValidationError
from engramdb.core.timeparse import parse_datetime


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("text, expected", [
    ("1:56 pm on 8 May, 2023", utc(2023, 5, 8, 13, 56)),  # LoCoMo
    ("10:04 am on 19 January, 2024", utc(2024, 1, 19, 10, 4)),
    ("12:00 am on 1 Jan, 2023", utc(2023, 1, 1, 0, 0)),
    ("7:30 PM on 25 Dec, 2022", utc(2022, 12, 25, 19, 30)),
    ("2023/05/20 (Sat) 02:21", utc(2023, 5, 20, 2, 21)),  # LongMemEval
    ("2023/05/20 14:21", utc(2023, 5, 20, 14, 21)),
    ("2024-02-29T23:59:00Z", utc(2024, 2, 29, 23, 59)),
    ("2024-02-29T23:59:00+02:00", utc(2024, 2, 29, 21, 59)),
    ("2024-02-29T23:59:00.123456-05:30", utc(2024, 3, 1, 5, 29) + timedelta(microseconds=123456)),
    ("2024-02-29 08:15:30", utc(2024, 2, 29, 8, 15, 30)),
    ("2024-02-29", utc(2024, 2, 29)),
    ("  2024-02-29  ", utc(2024, 2, 29)),
])
def test_formats(text, expected):
    got = parse_datetime(text)
    assert got == expected
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)


def test_epoch_seconds():
    assert parse_datetime(1683554160) == utc(2023, 5, 8, 13, 56)
    assert parse_datetime(1683554160.5) == utc(2023, 5, 8, 13, 56) + timedelta(seconds=0.5)
    assert parse_datetime(0) == utc(1970, 1, 1)


def test_datetimes():
    assert parse_datetime(datetime(2023, 5, 8, 13, 56)) == utc(2023, 5, 8, 13, 56)  # naive is UTC
    cest = timezone(timedelta(hours=2))
    assert parse_datetime(datetime(2023, 5, 8, 15, 56, tzinfo=cest)) == utc(2023, 5, 8, 13, 56)


@pytest.mark.parametrize("bad", ["", "   ", "yesterday", "13:56 pm on 8 May, 2023", "2023-02-30", "8 May",
                                 None, True, [2023], 1e20, float("nan")])
def test_rejects_garbage(bad):
    with pytest.raises(ValidationError):
        parse_datetime(bad)
