"""Packing ranked hits into a token budget and rendering the agent's context."""

from __future__ import annotations

from collections.abc import Sequence

from engramdb.core.models import Hit, Kind, MemoryRecord
from engramdb.retrieval.tokens import count_tokens

# Below this many tokens left, no memory line is worth trying to fit.
_MIN_USEFUL_TOKENS = 8


def render(record: MemoryRecord) -> str:
    """One context line: date (with weekday), who said it, and the content."""
    when = record.event_time.strftime("%Y-%m-%d (%a) %H:%M")
    who = record.speaker or record.role
    tag = "" if record.kind is Kind.TURN else f"({record.kind.value}) "
    prefix = f"{who}: " if who else ""
    return f"[{when}] {tag}{prefix}{record.content}"


def line_tokens(record: MemoryRecord) -> int:
    return count_tokens(render(record)) + 1  # + the newline that joins lines


def pack(hits: Sequence[Hit], budget: int | None) -> list[Hit]:
    """Greedy by rank: take each hit that still fits; skip (not stop at) ones that do not."""
    if budget is None:
        return list(hits)
    chosen: list[Hit] = []
    used = 0
    for hit in hits:
        if budget - used < _MIN_USEFUL_TOKENS:
            break
        if used + hit.tokens <= budget:
            chosen.append(hit)
            used += hit.tokens
    return chosen


def assemble(packed: Sequence[Hit], budget: int | None) -> tuple[str, int, list[Hit]]:
    """Chronological context text and its exact token count, guaranteed within budget."""
    ordered = sorted(packed, key=lambda h: (h.record.event_time, h.record.id))
    while True:
        text = "\n".join(render(h.record) for h in ordered)
        tokens = count_tokens(text)
        if budget is None or tokens <= budget or not ordered:
            return text, tokens, ordered
        # BPE merges across lines can add a token or two; drop the weakest hit
        weakest = min(ordered, key=lambda h: h.score)
        ordered.remove(weakest)
