"""Packing ranked hits into a token budget and rendering the agent's context.

The context groups memories under one header per (session, time) so the
date is paid for once per group instead of once per line:

    [2023-05-08 (Mon) 13:56]
    Caroline: I went to a LGBTQ support group yesterday.
    Melanie: (fact) Melanie paints sunsets.

Groups are in chronological order, and so are the lines inside each group.
"""

from __future__ import annotations

from collections.abc import Sequence

from engramdb.core.models import Hit, Kind, MemoryRecord
from engramdb.retrieval.tokens import count_tokens

# Below this many tokens left, no memory line is worth trying to fit.
_MIN_USEFUL_TOKENS = 8

GroupKey = tuple[str, str]


def group_key(record: MemoryRecord) -> GroupKey:
    return (record.scope.session_id or "", record.event_time.strftime("%Y-%m-%d (%a) %H:%M"))


def header(key: GroupKey) -> str:
    # the session id is left out: the date is what an agent reasons with, and every
    # token spent on ids is one fewer for memories
    return f"[{key[1]}]"


def render_line(record: MemoryRecord) -> str:
    who = record.speaker or record.role
    tag = "" if record.kind is Kind.TURN else f"({record.kind.value}) "
    return f"{who}: {tag}{record.content}" if who else f"{tag}{record.content}"


def render(record: MemoryRecord) -> str:
    """One memory on its own, with its header (for listings and single hits)."""
    return f"{header(group_key(record))} {render_line(record)}"


def line_tokens(record: MemoryRecord) -> int:
    return count_tokens(render_line(record)) + 1  # + the newline that joins lines


def header_tokens(key: GroupKey) -> int:
    return count_tokens(header(key)) + 1


def pack(hits: Sequence[Hit], budget: int | None) -> list[Hit]:
    """Greedy by rank: take each hit that still fits (with its group header when the group is
    new); skip, rather than stop at, hits that do not fit."""
    if budget is None:
        return list(hits)
    chosen: list[Hit] = []
    groups: set[GroupKey] = set()
    used = 0
    for hit in hits:
        if budget - used < _MIN_USEFUL_TOKENS:
            break
        key = group_key(hit.record)
        cost = hit.tokens + (0 if key in groups else header_tokens(key))
        if used + cost <= budget:
            chosen.append(hit)
            groups.add(key)
            used += cost
    return chosen


def render_context(ordered: Sequence[Hit]) -> str:
    lines: list[str] = []
    current: GroupKey | None = None
    for h in ordered:
        key = group_key(h.record)
        if key != current:
            lines.append(header(key))
            current = key
        lines.append(render_line(h.record))
    return "\n".join(lines)


def assemble(packed: Sequence[Hit], budget: int | None) -> tuple[str, int, list[Hit]]:
    """Chronological context text and its exact token count, guaranteed within budget."""
    ordered = sorted(packed, key=lambda h: (h.record.event_time, group_key(h.record), h.record.id))
    while True:
        text = render_context(ordered)
        tokens = count_tokens(text)
        if budget is None or tokens <= budget or not ordered:
            return text, tokens, ordered
        # BPE merges across lines can add a token or two; drop the weakest hit
        weakest = min(ordered, key=lambda h: h.score)
        ordered.remove(weakest)
