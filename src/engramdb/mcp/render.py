"""Tool results: a compact text for the model (what most clients put in its context) and the
same facts as structured content for programs. Long memories are cut in lists and rankings
(``get_memory`` returns the whole text)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mcp.types import CallToolResult, TextContent

from engramdb.core.models import HistoryEvent, MemoryRecord, SearchResult
from engramdb.core.profile import Profile

SNIPPET = 500  # characters of a memory shown in search / list results


def result(text: str, data: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _snippet(content: str) -> tuple[str, bool]:
    if len(content) <= SNIPPET:
        return content, False
    return content[:SNIPPET].rstrip() + "…", True


def brief(record: MemoryRecord, score: float | None = None) -> dict[str, Any]:
    """One memory in a ranking or a list: enough to cite it and to fetch the rest."""
    content, cut = _snippet(record.content)
    out: dict[str, Any] = {"id": record.id}
    if score is not None:
        out["score"] = round(score, 4)
    out.update({"content": content, "event_time": record.event_time.isoformat(),
                "speaker": record.speaker or record.role, "kind": record.kind.value,
                "session_id": record.scope.session_id})
    if cut:
        out["truncated"] = True
    return out


def _line(item: dict[str, Any]) -> str:
    score = f" {item['score']:.3f}" if "score" in item else ""
    who = f"{item['speaker']}: " if item["speaker"] else ""
    return f"[{item['id']}]{score} {item['event_time'][:10]} {who}{item['content']}"


def remembered(records: Sequence[MemoryRecord]) -> CallToolResult:
    ids = [r.id for r in records]
    return result(f"remembered {', '.join(ids)}", {"ids": ids})


def recalled(found: SearchResult) -> CallToolResult:
    ids = [h.record.id for h in found.packed]
    text = found.context if found.context else "(no memory matches this query)"
    if ids:
        text += f"\n\n[memory ids: {', '.join(ids)}]"
    text += _pending(found.unembedded)
    return result(text, {"context": found.context, "ids": ids, "context_tokens": found.context_tokens,
                         "unembedded": found.unembedded, "warnings": list(found.warnings)})


def ranked(found: SearchResult, k: int) -> CallToolResult:
    items = [brief(h.record, h.score) for h in found.hits[:k]]
    text = "\n".join(_line(i) for i in items) or "(no memory matches this query)"
    text += _pending(found.unembedded)
    return result(text, {"hits": items, "unembedded": found.unembedded, "warnings": list(found.warnings)})


def _pending(unembedded: int) -> str:
    """The engine's warnings speak to operators (run a worker, reindex); the model only needs
    to know that the newest memories are found by their words alone for now."""
    if not unembedded:
        return ""
    return (f"\n(note: {unembedded} recent memories are not indexed by meaning yet; they are found by "
            "matching words only)")


def listed(records: Sequence[MemoryRecord], next_offset: int | None) -> CallToolResult:
    items = [brief(r) for r in records]
    text = "\n".join(_line(i) for i in items) or "(no memories)"
    if next_offset is not None:
        text += f"\n(more: offset={next_offset})"
    return result(text, {"memories": items, "next_offset": next_offset})


def record(rec: MemoryRecord) -> CallToolResult:
    data = {"id": rec.id, "content": rec.content, "kind": rec.kind.value, "role": rec.role,
            "speaker": rec.speaker, "event_time": rec.event_time.isoformat(),
            "session_id": rec.scope.session_id, "metadata": rec.metadata, "version": rec.version,
            "updated_at": rec.updated_at.isoformat(), "superseded_by": rec.superseded_by,
            "provenance": list(rec.provenance)}
    shown = {k: v for k, v in data.items() if v not in (None, [], {})}
    return result(json.dumps(shown, ensure_ascii=False), data)


def history(memory_id: str, events: Sequence[HistoryEvent]) -> CallToolResult:
    items: list[dict[str, Any]] = [{"action": e.action.value, "at": e.at.isoformat(),
              "before": _content(e.before), "after": _content(e.after)} for e in events]
    lines = [f"{i['at'][:19]} {i['action']}: " + " -> ".join(
        json.dumps(_snippet(c)[0], ensure_ascii=False) for c in (i["before"], i["after"]) if c is not None)
        for i in items]
    return result("\n".join(lines) or f"(no history for {memory_id})", {"memory_id": memory_id, "events": items})


def _content(version: dict[str, Any] | None) -> str | None:
    if version is None:
        return None
    content = version.get("content")
    return content if isinstance(content, str) else None


def _fact(rec: MemoryRecord) -> dict[str, Any]:
    value = rec.metadata.get("value")
    return {"id": rec.id, "content": rec.content, "subject": rec.subject, "attribute": rec.attribute,
            "value": value if isinstance(value, str) else None, "valid_from": rec.event_time.isoformat(),
            "valid_to": rec.valid_to.isoformat() if rec.valid_to else None, "superseded_by": rec.superseded_by}


def facts(records: Sequence[MemoryRecord]) -> CallToolResult:
    items = [_fact(r) for r in records]
    lines = [f"[{i['id']}] since {i['valid_from'][:10]}"
             + (f" until {i['valid_to'][:10]}" if i["valid_to"] else "")
             + (f" ({i['attribute']})" if i["attribute"] else "") + f" {i['content']}" for i in items]
    return result("\n".join(lines) or "(no facts known)", {"facts": items})


def profile(found: Profile) -> CallToolResult:
    lines = [found.text() or "(no profile yet: no facts known)"]
    for slot in found.slots:
        before = [v for v in slot.history if v not in slot.current]
        if before:
            lines.append(f"{slot.attribute} before: " + "; ".join(
                f"{v.value} ({v.valid_from:%Y-%m-%d} to {v.valid_to:%Y-%m-%d})" if v.valid_to
                else f"{v.value} (since {v.valid_from:%Y-%m-%d})" for v in before))
    return result("\n".join(lines), found.to_dict())
