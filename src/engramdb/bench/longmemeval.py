"""``engram bench longmemeval``: evidence retrieval on LongMemEval (Wu et al., 2025).

Each question's haystack (~50 sessions, ~490 turns) goes into a store of its
own (a fresh SQLite file, deleted after; ``shared_store=True`` puts every
haystack in one store, as the bench did before, for comparison), one batch per
session, dated with the session's date and with the real roles. Session and
question ids are replaced by opaque handles first (``longmemeval_data``). The
question is then one search in that scope, asked at ``question_date``
(``Memory.search(now=...)``, which anchors "last week"). It is not passed as
``as_of``: ``as_of`` reads the store as it was at a system time, and every
record was created at ingest time, so it would either hide everything or
change nothing.

Scoring (LongMemEval's retrieval definitions; ``_abs`` abstention questions are
reported apart and left out of "overall"), by question type:
- turn level: the ``has_answer`` turns are the evidence; turn recall_all@k
  (``all@k``) is 1 when every one of them is in the top k turns; also recall@k,
  NDCG, MRR and recall within each token budget;
- session level: the answer sessions that hold an evidence turn, against the
  distinct sessions of the ranked turns in order of first appearance
  (recall_any / recall_all @5, @10).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engramdb.bench.evidence import session_of, turn_key
from engramdb.bench.isolated import Unit, run_isolated
from engramdb.bench.longmemeval_data import ABSTENTION, RECORD_PREFIX, Gold, Question, load
from engramdb.bench.metrics import dedupe, item_metrics, session_metrics
from engramdb.bench.report import finish
from engramdb.bench.runner import Answered, RunConfig, RunOutput, fresh_memory, latency_summary, run, run_info, snapshot
from engramdb.bench.scoring import Group, summarize
from engramdb.core.models import MemoryRecord

__all__ = ["ABSTENTION", "Gold", "Retrieved", "key_of", "load", "retrieve", "run_longmemeval"]


def key_of(record: MemoryRecord) -> str:
    """A ranked record as ``session handle#turn`` (the scorer maps the handle back)."""
    turn = record.metadata.get("turn")
    if record.scope.session_id is None or not isinstance(turn, int):
        return f"{RECORD_PREFIX}{record.id}"
    return turn_key(record.scope.session_id, turn)


@dataclass
class Retrieved:
    """A run's results in original ids, for the questions that completed."""

    golds: list[Gold]
    out: RunOutput
    questions: int  # how many the run was given
    shared_store: bool


def retrieve(questions: list[Question], config: RunConfig, *, shared_store: bool = False,
             time_limit_s: float | None = None) -> Retrieved:
    """Ingest and ask (query time sees handles only), then map every ranked key back to original ids."""
    if shared_store:
        with fresh_memory(config) as mem:
            out = run(config, mem, [b for q in questions for b in q.batches], [q.query for q in questions], key_of)
        completed = len(questions)
    else:
        isolated = run_isolated(config, [Unit(q.batches, [q.query]) for q in questions], key_of,
                                time_limit_s=time_limit_s)
        out, completed = isolated.out, isolated.completed
    golds = [q.gold for q in questions[:completed]]
    for answered in out.results.values():
        answered[:] = [_original(a, g) for a, g in zip(answered, golds, strict=True)]
    return Retrieved(golds, out, len(questions), shared_store)


def _original(a: Answered, gold: Gold) -> Answered:
    return Answered([gold.original(k) for k in a.ranked],
                    {b: [gold.original(k) for k in keys] for b, keys in a.packed.items()},
                    a.context_tokens, a.latency_ms, a.context)


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
            if g.newest:
                row.update(newest_metrics(a.ranked, g.newest, g.turns - g.newest))
            rows[method].append(row)
    return rows


def newest_metrics(ranked: list[str], newest: frozenset[str], older: frozenset[str]) -> dict[str, float]:
    """For a knowledge update (evidence said at several dates): whether the newest evidence is
    ranked above all older evidence ("newest_first"), at rank 1, and its reciprocal rank."""
    rank = {key: i for i, key in enumerate(ranked)}
    first_new = min((rank[t] for t in newest if t in rank), default=None)
    first_old = min((rank[t] for t in older if t in rank), default=None)
    above = first_new is not None and (first_old is None or first_new < first_old)
    return {"newest_first": float(above), "newest@1": float(first_new == 0),
            "newest_mrr": 0.0 if first_new is None else 1.0 / (first_new + 1)}


def question_lines(golds: list[Gold], out: RunOutput, rows: dict[str, list[dict[str, float]]]) -> list[str]:
    lines = []
    for i, g in enumerate(golds):
        per_method: dict[str, Any] = {}
        for method, answered in out.results.items():
            sessions = dedupe(session_of(k) for k in answered[i].ranked)
            per_method[method] = {
                "turn_ranks": sorted(answered[i].ranked.index(t) + 1 for t in g.turns if t in answered[i].ranked),
                "session_ranks": sorted(sessions.index(s) + 1 for s in g.sessions if s in sessions),
                **{k: v for k, v in rows[method][i].items()
                   if k in ("recall@10", "all@10", "mrr", "session_all@5", "session_all@10")}}
        lines.append(json.dumps({"qid": g.qid, "question_type": g.question_type, "question_date": g.question_date,
                                 "answer_sessions": sorted(g.sessions), "evidence_turns": sorted(g.turns),
                                 "methods": per_method}))
    return lines


def run_longmemeval(path: Path, config: RunConfig, *, shared_store: bool = False,
                    time_limit_s: float | None = None, types: tuple[str, ...] | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    at_start = snapshot()
    questions, info = load(path, config.limit, types=types)
    if types is not None:
        info["types"] = list(types)
    got = retrieve(questions, config, shared_store=shared_store, time_limit_s=time_limit_s)
    rows = score(got.golds, got.out)
    info["completed"] = len(got.golds)
    if len(got.golds) < got.questions:
        info["stopped"] = f"time limit: {len(got.golds)} of {got.questions} questions run"
    result: dict[str, Any] = {
        "benchmark": "longmemeval",
        "config": run_info(config, got.out, path, started, at_start)
        | {"stores": "one store for all questions" if shared_store else "one store per question",
           "ids": "opaque handles (s001.., q001..)"},
        "data": info,
        "groups": summarize(groups(got.golds), rows, got.out.results),
        "latency": latency_summary(got.out),
    }
    result["config"]["timing_s"]["total"] = round(time.perf_counter() - started, 2)
    finish(result, config, "longmemeval", question_lines(got.golds, got.out, rows))
    return result
