"""``engram bench longmemeval``: evidence retrieval on LongMemEval (Wu et al., 2025).

Each question's haystack (~50 sessions) goes into its own scope (``user_id``
= question id, ``session_id`` = haystack session id) through ``Memory.add``,
one call per session, dated with the session's date and with the real roles.
The question is then one search in that scope, asked at ``question_date``
(``Memory.search(now=...)``, which anchors "last week"). It is not passed as
``as_of``: ``as_of`` reads the store as it was at a system time, and every
record was created at ingest time, so it would either hide everything or
change nothing.

Scoring, by question type (``_abs`` abstention questions apart):
- turn level: the ``has_answer`` turns are the evidence (recall@k, NDCG, MRR,
  recall within each budget, turn all-evidence@10);
- session level: ``answer_session_ids`` against the distinct sessions of the
  ranked turns, in order of first appearance (recall_any / recall_all @5, @10).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engramdb.bench.baselines import Query
from engramdb.bench.evidence import longmemeval_gold, session_of, turn_key
from engramdb.bench.metrics import dedupe, item_metrics, session_metrics
from engramdb.bench.report import finish
from engramdb.bench.runner import RunConfig, RunOutput, fresh_memory, latency_summary, run, run_info, snapshot
from engramdb.bench.scoring import Group, summarize
from engramdb.core.errors import ImportFormatError
from engramdb.core.models import MemoryRecord
from engramdb.formats.base import Batch, load_json
from engramdb.formats.longmemeval import longmemeval_batches

ABSTENTION = "abstention"


@dataclass(frozen=True)
class Gold:
    qid: str
    question_type: str
    question_date: str
    sessions: frozenset[str]
    turns: frozenset[str]

    @property
    def group(self) -> str:
        return ABSTENTION if self.qid.endswith("_abs") else self.question_type


def key_of(record: MemoryRecord) -> str:
    turn = record.metadata.get("turn")
    if record.scope.session_id is None or not isinstance(turn, int):
        return f"record:{record.id}"
    return turn_key(record.scope.session_id, turn)


def load(path: Path, limit: int | None) -> tuple[list[Batch], list[Query], list[Gold], dict[str, Any]]:
    items = load_json(path)
    if not isinstance(items, list):
        raise ImportFormatError("a LongMemEval file is a JSON list of questions", path=str(path))
    items = items[:limit] if limit is not None else items
    batches = longmemeval_batches(items, path, user_id=None, agent_id=None)
    queries, golds = [], []
    for item in items:
        qid = str(item["question_id"])
        sessions, turns = longmemeval_gold(item)
        date = item.get("question_date")
        queries.append(Query(qid, str(item["question"]), qid, str(date) if date else None))
        golds.append(Gold(qid, str(item.get("question_type", "unknown")), str(item.get("question_date", "")),
                          sessions, turns))
    by_type: dict[str, int] = {}
    for g in golds:
        by_type[g.group] = by_type.get(g.group, 0) + 1
    info = {"questions": len(golds), "sessions": len(batches), "turns": sum(len(b.messages) for b in batches),
            "questions_by_type": dict(sorted(by_type.items())),
            "question_dates": {g.qid: g.question_date for g in golds}}
    return batches, queries, golds, info


def groups(golds: list[Gold]) -> list[Group]:
    out = [Group("overall", "overall (without abstention)",
                 tuple(i for i, g in enumerate(golds) if g.group != ABSTENTION))]
    for name in sorted({g.group for g in golds}, key=lambda n: (n == ABSTENTION, n)):
        out.append(Group(name, name, tuple(i for i, g in enumerate(golds) if g.group == name)))
    return out


def score(golds: list[Gold], out: RunOutput) -> dict[str, list[dict[str, float]]]:
    rows: dict[str, list[dict[str, float]]] = {}
    for method, answered in out.results.items():
        rows[method] = []
        for a, g in zip(answered, golds, strict=True):
            row = item_metrics(a.ranked, a.packed, g.turns) if g.turns else {}
            if g.sessions:
                row.update(session_metrics([session_of(k) for k in a.ranked], g.sessions))
            rows[method].append(row)
    return rows


def question_lines(golds: list[Gold], out: RunOutput, rows: dict[str, list[dict[str, float]]]) -> list[str]:
    lines = []
    for i, g in enumerate(golds):
        per_method: dict[str, Any] = {}
        for method, answered in out.results.items():
            sessions = dedupe(session_of(k) for k in answered[i].ranked)
            per_method[method] = {
                "turn_ranks": sorted(answered[i].ranked.index(t) + 1 for t in g.turns if t in answered[i].ranked),
                "session_ranks": sorted(sessions.index(s) + 1 for s in g.sessions if s in sessions),
                **{k: v for k, v in rows[method][i].items() if k in ("recall@10", "mrr", "session_all@10")}}
        lines.append(json.dumps({"qid": g.qid, "question_type": g.question_type, "question_date": g.question_date,
                                 "answer_sessions": sorted(g.sessions), "evidence_turns": sorted(g.turns),
                                 "methods": per_method}))
    return lines


def run_longmemeval(path: Path, config: RunConfig) -> dict[str, Any]:
    started = time.perf_counter()
    at_start = snapshot()
    batches, queries, golds, info = load(path, config.limit)
    with fresh_memory(config) as mem:
        out = run(config, mem, batches, queries, key_of)
    rows = score(golds, out)
    result: dict[str, Any] = {
        "benchmark": "longmemeval",
        "config": run_info(config, out, path, started, at_start),
        "data": info,
        "groups": summarize(groups(golds), rows, out.results),
        "latency": latency_summary(out),
    }
    result["config"]["timing_s"]["total"] = round(time.perf_counter() - started, 2)
    finish(result, config, "longmemeval", question_lines(golds, out, rows))
    return result
