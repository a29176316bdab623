"""Gold evidence of the benchmarks, read by the scorer only (never at query time).

LoCoMo's ``evidence`` lists hold dialogue ids (``"D3:7"`` = session 3, turn 7)
with a few known quirks: empty lists, two ids in one string
(``"D8:6; D9:17"``), stray whitespace or colons (``"D:11:26"``), ids that do
not exist in the conversation, and entries with no id at all. What can be
repaired is; everything else is counted so the report can show it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

_DIA_ID = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)", re.IGNORECASE)
_MAX_EXAMPLES = 20


@dataclass
class EvidenceIssues:
    """Counts of what the evidence repair met, over all questions of a run."""

    questions: int = 0
    entries: int = 0
    empty_lists: int = 0  # questions whose evidence list is empty
    split: int = 0  # entries holding several ids, split into them
    reformatted: int = 0  # entries repaired: whitespace, a stray colon, lower-case d
    missing: int = 0  # well-formed ids that name no turn of the conversation
    unparseable: int = 0  # entries with no dialogue id in them
    duplicates: int = 0  # an id listed twice for one question (counted once)
    no_evidence: int = 0  # questions left without any resolvable id (excluded from recall)
    examples: list[str] = field(default_factory=list)

    def note(self, where: str, raw: Any, outcome: str) -> None:
        if len(self.examples) < _MAX_EXAMPLES:
            self.examples.append(f"{where}: {raw!r} -> {outcome}")

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "questions", "entries", "empty_lists", "split", "reformatted", "missing", "unparseable",
            "duplicates", "no_evidence", "examples")}


def parse_entry(raw: Any) -> list[str]:
    """Canonical dialogue ids in one evidence entry (none when it holds no id)."""
    if not isinstance(raw, str):
        return []
    return [f"D{int(s)}:{int(t)}" for s, t in _DIA_ID.findall(raw)]


def resolve_evidence(raw: Any, known: Collection[str], issues: EvidenceIssues, where: str) -> tuple[str, ...]:
    """The repaired, de-duplicated evidence ids of one question that exist in ``known``."""
    issues.questions += 1
    entries: Sequence[Any] = raw if isinstance(raw, list) else ([] if raw is None else [raw])
    if not entries:
        issues.empty_lists += 1
        issues.no_evidence += 1
        issues.note(where, raw, "empty evidence list")
        return ()
    resolved: list[str] = []
    for entry in entries:
        issues.entries += 1
        ids = parse_entry(entry)
        if not ids:
            issues.unparseable += 1
            issues.note(where, entry, "unparseable")
            continue
        if len(ids) > 1:
            issues.split += 1
            issues.note(where, entry, f"split into {ids}")
        elif ids[0] != entry:
            issues.reformatted += 1
            issues.note(where, entry, f"read as {ids[0]!r}")
        for dia_id in ids:
            if dia_id not in known:
                issues.missing += 1
                issues.note(where, dia_id, "no such turn")
            elif dia_id in resolved:
                issues.duplicates += 1
            else:
                resolved.append(dia_id)
    if not resolved:
        issues.no_evidence += 1
    return tuple(resolved)


def turn_key(session_id: str, turn: int) -> str:
    """The key of one LongMemEval turn: haystack session id and index in the original session."""
    return f"{session_id}#{turn}"


def session_of(key: str) -> str:
    return key.rsplit("#", 1)[0]


def longmemeval_gold(item: dict[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    """(answer session ids, ``has_answer`` turn keys) of one LongMemEval question.

    As in LongMemEval's own retrieval scorer, an answer session none of whose turns has
    ``has_answer`` is not evidence (it scores it as ``noans``): recall_all needs only the
    answer sessions that hold an evidence turn."""
    turns = {turn_key(str(sid), j)
             for sid, session in zip(item["haystack_session_ids"], item["haystack_sessions"], strict=True)
             for j, turn in enumerate(session)
             if isinstance(turn, dict) and turn.get("has_answer") and str(turn.get("content") or "").strip()}
    with_evidence = {session_of(t) for t in turns}
    sessions = frozenset(str(s) for s in item.get("answer_session_ids") or () if str(s) in with_evidence)
    return sessions, frozenset(turns)
