"""Parsing user-supplied timestamps into aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

from engramdb.core.errors import ValidationError
from engramdb.core.models import as_utc

# Formats seen in the benchmark data and in chat exports, tried in order.
_FORMATS = (
    "%I:%M %p on %d %B, %Y",  # LoCoMo: "1:56 pm on 8 May, 2023"
    "%I:%M %p on %d %b, %Y",
    "%Y/%m/%d (%a) %H:%M",  # LongMemEval: "2023/05/20 (Sat) 02:21"
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)


def parse_datetime(value: str | int | float | datetime) -> datetime:
    """ISO 8601, epoch seconds, or one of the chat-export formats above.

    Anything else, and any time outside 0001-01-01 .. 9999-12-31T23:59:59 UTC, is a
    ValidationError (never an OverflowError or a bare ValueError).
    """
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, bool):
        raise ValidationError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        return _from_epoch(value)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"not a timestamp: {value!r}")
    text = value.strip()
    parsed = _iso(text)
    if parsed is not None:
        return as_utc(parsed)
    if text.lstrip("-").replace(".", "", 1).isdigit():
        try:
            seconds = float(text)  # epoch seconds given as text (CLI flags, CSV)
        except ValueError:  # "²".isdigit() is True
            raise ValidationError(f"unrecognised timestamp {value!r}") from None
        return _from_epoch(seconds)
    for fmt in _FORMATS:
        try:
            return as_utc(datetime.strptime(text, fmt))
        except ValueError as exc:
            if isinstance(exc, ValidationError):
                raise
            continue
    raise ValidationError(f"unrecognised timestamp {value!r}; use ISO 8601 (2024-05-08T13:56:00Z)")


def _iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _from_epoch(seconds: int | float) -> datetime:
    try:
        return as_utc(datetime.fromtimestamp(float(seconds), tz=UTC))
    except (OverflowError, OSError) as exc:
        raise ValidationError(f"timestamp out of range: {seconds!r}") from exc
    except ValueError as exc:  # NaN, or a year outside 1..9999
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"timestamp out of range: {seconds!r}") from exc
