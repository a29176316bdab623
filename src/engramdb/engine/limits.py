"""The limits of every write, in one place.

``add``, ``add_many``, ``update``, ``supersede`` and ``import_jsonl`` all hold what
they write to these limits: :func:`validate_record` is the last check before a
record reaches the store, whichever path built it. The cleaning helpers below are
the same checks for single fields (``add`` uses them to name the message at fault).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from engramdb.core.bounds import INT64_MAX, MAX_NAME_CHARS, check_depth, check_name
from engramdb.core.errors import ValidationError
from engramdb.core.models import MemoryRecord, as_utc

MAX_CONTENT_BYTES = 1_000_000
MAX_METADATA_BYTES = 64_000
MAX_PROVENANCE = 100  # ids a memory may cite as its sources
MAX_SNAPSHOT_BYTES = 4 * MAX_CONTENT_BYTES  # a history event's before/after, as JSON


def clean_text(value: Any, what: str = "content") -> str:
    """Valid UTF-8, not empty, at most 1 MB; bytes are decoded strictly."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{what} is not valid UTF-8 (byte {exc.start})") from None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, got {type(value).__name__}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError(f"{what} is not valid UTF-8 (it holds a lone surrogate)") from None
    if not value.strip():
        raise ValidationError(f"{what} is empty")
    if size > MAX_CONTENT_BYTES:
        raise ValidationError(f"{what} is {size} bytes; the limit is {MAX_CONTENT_BYTES}")
    return value


def clean_json(value: Any, what: str, max_bytes: int) -> str:
    """``value`` as compact JSON, refused when too deep, too large, not JSON or not UTF-8."""
    check_depth(value, what)  # before json.dumps recurses into it
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
        size = len(encoded.encode("utf-8"))
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise ValidationError(f"{what} is not JSON-serialisable UTF-8: {exc}") from None
    if size > max_bytes:
        raise ValidationError(f"{what} is larger than {max_bytes} bytes")
    return encoded


def clean_metadata(value: Any) -> dict[str, Any]:
    """A JSON object of at most 64 kB and 32 levels; returned as a fresh copy."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("metadata must be a JSON object")
    result: dict[str, Any] = json.loads(clean_json(dict(value), "metadata", MAX_METADATA_BYTES))
    return result


def optional_name(value: Any, what: str) -> str | None:
    """None, or a short name (role, speaker)."""
    return None if value is None else check_name(value, what)


def clean_provenance(value: Any) -> tuple[str, ...]:
    """The ids a memory derives from: at most 100 short names."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValidationError("provenance must be a list of memory ids")
    ids = tuple(value)
    if len(ids) > MAX_PROVENANCE:
        raise ValidationError(f"provenance holds {len(ids)} ids; the limit is {MAX_PROVENANCE}")
    for i in ids:
        check_name(i, "a provenance id")
    return ids


def validate_record(rec: MemoryRecord) -> MemoryRecord:
    """Every write limit, on a finished record (content, metadata, names, times, version)."""
    check_name(rec.id, "id")
    clean_text(rec.content)
    optional_name(rec.role, "role")
    optional_name(rec.speaker, "speaker")
    optional_name(rec.superseded_by, "superseded_by")
    optional_name(rec.subject, "subject")
    optional_name(rec.attribute, "attribute")
    provenance = clean_provenance(rec.provenance)
    if not isinstance(rec.version, int) or isinstance(rec.version, bool) or not 1 <= rec.version <= INT64_MAX:
        raise ValidationError(f"version must be an integer >= 1, got {rec.version!r}")
    for t in (rec.event_time, rec.created_at, rec.updated_at, rec.superseded_at, rec.valid_to, rec.expires_at):
        if t is not None:
            as_utc(t)  # inside the range a stored time survives
    return replace(rec, metadata=clean_metadata(rec.metadata), provenance=provenance)


def validate_snapshot(value: Any, what: str) -> None:
    """A history event's before/after: None or a JSON object within depth and size."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValidationError(f"{what} must be a JSON object or null")
    clean_json(value, what, MAX_SNAPSHOT_BYTES)


__all__ = ["MAX_CONTENT_BYTES", "MAX_METADATA_BYTES", "MAX_NAME_CHARS", "clean_metadata", "clean_provenance",
           "clean_text", "optional_name", "validate_record", "validate_snapshot"]
