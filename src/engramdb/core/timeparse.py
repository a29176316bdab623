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
    """ISO 8601, epoch seconds, or one of the chat-export formats above."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, bool):
        raise ValidationError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValidationError(f"timestamp out of range: {value!r}") from exc
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"not a timestamp: {value!r}")
    text = value.strip()
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return parse_datetime(float(text))  # epoch seconds given as text (CLI flags, CSV)
    for fmt in _FORMATS:
        try:
            return as_utc(datetime.strptime(text, fmt))
        except ValueError:
            continue
    raise ValidationError(f"unrecognised timestamp {value!r}; use ISO 8601 (2024-05-08T13:56:00Z)")
