"""Export lines parsed back into records and events (the import side of export_jsonl)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
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


def check_owners(records: list[MemoryRecord], events: list[HistoryEvent],
                 allow: Callable[[str | None, str | None], None]) -> None:
    """Call ``allow(user_id, agent_id)`` for the owner of every line: a record's scope, a
    tombstone's named owner; a history event must belong to a record of the same file."""
    ids = {r.id for r in records}
    for owner in {(r.scope.user_id, r.scope.agent_id) for r in records}:
        allow(*owner)
    for event in events:
        if event.scope is not None:
            allow(event.scope.get("user_id"), event.scope.get("agent_id"))
        elif event.memory_id not in ids:
            allow(None, None)  # history of a memory the file does not carry: only an unrestricted caller
