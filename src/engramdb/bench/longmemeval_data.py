"""LongMemEval questions as the bench sees them: session ids behind opaque handles.

Every evidence session id of LongMemEval starts with ``answer_`` (the others
look like ``sharegpt_...`` or hex); ranking by that prefix alone scores
session recall_all@5 of 0.99. So before anything is ingested, each question's
haystack session ids are replaced by handles ``s001``, ``s002``, ... (in
haystack order) and its question id by ``q001``, ...; the store, the query and
every method see only handles. The map back to the original ids travels with
the gold (:class:`Gold`), which only the scorer reads.

Questions come in an interleaved order (one of each question type in turn, the
types sorted by name), so the first N questions of a run, or of a run stopped
by its time limit, keep the split's mix of types. Each question has its own
store, so the order changes no number of a completed run.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engramdb.bench.baselines import Query
from engramdb.bench.evidence import longmemeval_gold, session_of, turn_key
from engramdb.core.errors import ImportFormatError
from engramdb.core.timeparse import parse_datetime
from engramdb.formats.base import Batch, load_json
from engramdb.formats.longmemeval import longmemeval_batches

ABSTENTION = "abstention"
RECORD_PREFIX = "record:"


@dataclass(frozen=True)
class Gold:
    """What the scorer knows of one question (never seen at query time)."""

    qid: str
    question_type: str
    question_date: str
    sessions: frozenset[str]  # original answer session ids that hold evidence turns
    turns: frozenset[str]  # original turn keys of the has_answer turns
    back: Mapping[str, str]  # session handle -> original session id
    # the evidence turns said last, when the evidence spans several dates (a knowledge update:
    # the old and the new value are both evidence); empty otherwise
    newest: frozenset[str] = frozenset()

    @property
    def group(self) -> str:
        return ABSTENTION if self.qid.endswith("_abs") else self.question_type

    def original(self, key: str) -> str:
        """A ranked key (``handle#turn``) in original ids."""
        if key.startswith(RECORD_PREFIX):
            return key
        handle = session_of(key)
        return turn_key(self.back[handle], int(key[len(handle) + 1:]))


@dataclass(frozen=True)
class Question:
    batches: list[Batch]  # the haystack, one batch per session, in handles
    query: Query  # in handles
    gold: Gold


def interleaved(items: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of ``items`` taking one question of each type in turn (types sorted by name)."""
    by_type: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_type.setdefault(str(item.get("question_type", "unknown")), []).append(i)
    queues = [list(by_type[t]) for t in sorted(by_type)]
    order: list[int] = []
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop(0))
    return order


def session_handles(session_ids: Sequence[Any]) -> dict[str, str]:
    """original session id -> ``s001``, ``s002``, ... in order of first appearance (a haystack
    may list one session twice; it keeps one handle)."""
    out: dict[str, str] = {}
    for sid in session_ids:
        out.setdefault(str(sid), f"s{len(out) + 1:03d}")
    return out


def renamed(item: Mapping[str, Any], handle: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The haystack of one question with opaque ids (nothing else of the item is kept), and
    the map handle -> original session id."""
    forward = session_handles(item.get("haystack_session_ids") or [])
    ingest = {"question_id": handle,
              "haystack_session_ids": [forward[str(s)] for s in item.get("haystack_session_ids") or []],
              "haystack_dates": item.get("haystack_dates"), "haystack_sessions": item.get("haystack_sessions")}
    return ingest, {h: sid for sid, h in forward.items()}


def question(item: Mapping[str, Any], n: int, path: Path, *, opaque: bool = True) -> Question:
    """One question ready to run; ``opaque=False`` keeps the original ids (only to show that
    the renaming changes no result)."""
    qid = str(item["question_id"])
    if opaque:
        handle = f"q{n + 1:03d}"
        ingest, back = renamed(item, handle)
    else:
        handle, ingest = qid, dict(item)
        back = {str(s): str(s) for s in item.get("haystack_session_ids") or []}
    batches = longmemeval_batches([ingest], path, user_id=None, agent_id=None)
    sessions, turns = longmemeval_gold(dict(item))
    date = item.get("question_date")
    query = Query(handle, str(item["question"]), handle, str(date) if date else None)
    gold = Gold(qid, str(item.get("question_type", "unknown")), str(date or ""), sessions, turns, back,
                newest_turns(item, turns))
    return Question(batches, query, gold)


def newest_turns(item: Mapping[str, Any], turns: frozenset[str]) -> frozenset[str]:
    """The evidence turns of the latest-dated evidence sessions, if the evidence has several dates."""
    dates = {str(sid): parse_datetime(str(d)) for sid, d in
             zip(item.get("haystack_session_ids") or (), item.get("haystack_dates") or (), strict=False)}
    said = {t: dates[session_of(t)] for t in turns if session_of(t) in dates}
    if len(set(said.values())) < 2:
        return frozenset()
    last = max(said.values())
    return frozenset(t for t, when in said.items() if when == last)


def load(path: Path, limit: int | None, *, opaque: bool = True,
         types: Collection[str] | None = None) -> tuple[list[Question], dict[str, Any]]:
    """The first ``limit`` questions in interleaved order (of the ``types`` given: question types,
    or "abstention"), and a summary of the data."""
    items = load_json(path)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ImportFormatError("a LongMemEval file is a JSON list of questions", path=str(path))
    order = interleaved(items)
    if types is not None:
        order = [i for i in order if _group(items[i]) in types]
    order = order[:limit] if limit is not None else order
    questions = [question(items[i], n, path, opaque=opaque) for n, i in enumerate(order)]
    return questions, summary(items, order, questions)


def summary(items: Sequence[Mapping[str, Any]], order: Sequence[int], questions: Sequence[Question]) -> dict[str, Any]:
    by_type: dict[str, int] = {}
    for q in questions:
        by_type[q.gold.group] = by_type.get(q.gold.group, 0) + 1
    listed = sum(len(items[i].get("answer_session_ids") or ()) for i in order if not _abstention(items[i]))
    kept = sum(len(q.gold.sessions) for q in questions if q.gold.group != ABSTENTION)
    return {"questions": len(questions), "sessions": sum(len(q.batches) for q in questions),
            "turns": sum(len(b.messages) for q in questions for b in q.batches),
            "questions_by_type": dict(sorted(by_type.items())),
            "answer_sessions": listed, "answer_sessions_without_evidence_turn": listed - kept,
            "question_order": "interleaved by type",
            "question_dates": {q.gold.qid: q.gold.question_date for q in questions}}


def _group(item: Mapping[str, Any]) -> str:
    return ABSTENTION if _abstention(item) else str(item.get("question_type", "unknown"))


def _abstention(item: Mapping[str, Any]) -> bool:
    return str(item.get("question_id", "")).endswith("_abs")
