"""Export lines parsed back into records and events (the import side of export_jsonl)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from engramdb.core.errors import ImportFormatError, ValidationError
from engramdb.core.jsonl import numbered_lines
from engramdb.core.models import HistoryEvent, MemoryRecord, event_from_dict, record_from_dict
from engramdb.engine.limits import validate_record, validate_snapshot


def parse_export(lines: str | Iterable[str], source: str) -> tuple[list[MemoryRecord], list[HistoryEvent]]:
    """Records and events of an export (a text, or its lines); lines end at "\\n" only."""
    records: list[MemoryRecord] = []
    events: list[HistoryEvent] = []
    for lineno, line in numbered_lines(lines):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValidationError("each line must be a JSON object")
            kind = item.pop("type", None)
            if kind == "record":
                records.append(validate_record(record_from_dict(item)))
            elif kind == "event":
                events.append(_event(item))
            else:
                raise ValidationError(f"unknown line type {kind!r} (expected 'record' or 'event')")
        except (json.JSONDecodeError, RecursionError, ValidationError) as exc:
            raise ImportFormatError(str(exc), path=source, line=lineno) from None
    return records, events


def _event(item: dict[str, Any]) -> HistoryEvent:
    event = event_from_dict(item)
    validate_snapshot(event.before, "event 'before'")
    validate_snapshot(event.after, "event 'after'")
    return event
