"""``engram bench locomo``: evidence retrieval on LoCoMo (Maharana et al., 2024).

Each conversation goes into its own scope (``user_id`` = sample id) through
``Memory.add``, one call per session, with the session's date as event time and
the real speakers (photo captions are part of the turn text; the hindsight
annotations are never read). Each question is then one search in that scope,
asked at the date of the conversation's last session (LoCoMo gives questions
no date; they are asked once the conversation is over, so "last year" means
the year before that session, not before today).
Retrieved records map back to dialogue ids through ``record.metadata["dia_id"]``.
Categories use LoCoMo's own numbering; category 5 (adversarial) is reported
apart and left out of the overall numbers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engramdb.bench.answer import AnswerSetup, AnswerTask, run_answers
from engramdb.bench.baselines import Query
from engramdb.bench.evidence import EvidenceIssues, resolve_evidence
from engramdb.bench.metrics import item_metrics
from engramdb.bench.report import finish
from engramdb.bench.runner import RunConfig, RunOutput, fresh_memory, latency_summary, run, run_info, snapshot
from engramdb.bench.scoring import Group, summarize
from engramdb.core.models import MemoryRecord
from engramdb.core.timeparse import parse_datetime
from engramdb.formats.base import Batch, load_json
from engramdb.formats.locomo import conversation_turns, locomo_batches

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
HEADLINE = (1, 2, 3, 4)


@dataclass(frozen=True)
class Gold:
    """What only the scorer may read."""

    qid: str
    category: int
    evidence: tuple[str, ...]
    answer: str


@dataclass
class Loaded:
    batches: list[Batch]
    queries: list[Query]
    golds: list[Gold]
    issues: EvidenceIssues
    info: dict[str, Any]


def key_of(record: MemoryRecord) -> str:
    dia_id = record.metadata.get("dia_id")
    return str(dia_id) if dia_id else f"record:{record.id}"


def load(path: Path, limit: int | None) -> Loaded:
    samples = load_json(path)
    if isinstance(samples, list) and limit is not None:
        samples = samples[:limit]
    batches = locomo_batches(samples, path, user_id=None, agent_id=None)
    loaded = Loaded(batches, [], [], EvidenceIssues(), {})
    turns = 0
    skipped: list[str] = []
    asked_at: dict[str, str | None] = {}
    for idx, sample in enumerate(samples):
        sid = str(sample["sample_id"])
        conv_turns = conversation_turns(sample, path, f"sample {idx} ({sid})")
        turns += len(conv_turns)
        known = {t.dia_id for t in conv_turns}
        now = max((parse_datetime(t.timestamp) for t in conv_turns), default=None)
        asked_at[sid] = now.isoformat() if now else None
        for qi, qa in enumerate(sample.get("qa") or []):
            qid = f"{sid}/q{qi}"
            text = qa.get("question") if isinstance(qa, dict) else None
            if not isinstance(text, str) or not text.strip():
                skipped.append(qid)  # reported: a question without text cannot be asked
                continue
            evidence = resolve_evidence(qa.get("evidence"), known, loaded.issues, qid)
            answer = qa.get("answer", qa.get("adversarial_answer", ""))
            loaded.queries.append(Query(qid, text, sid, asked_at[sid]))
            loaded.golds.append(Gold(qid, _category(qa.get("category")), evidence, str(answer)))
    by_cat: dict[str, int] = {}
    for g in loaded.golds:
        by_cat[str(g.category)] = by_cat.get(str(g.category), 0) + 1
    loaded.info = {"conversations": len(samples), "sessions": len(batches), "turns": turns,
                   "questions": len(loaded.golds), "questions_by_category": dict(sorted(by_cat.items())),
                   "questions_without_text": skipped, "asked_at": asked_at}
    return loaded


def _category(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0  # reported under "unknown category"


def groups(golds: list[Gold]) -> list[Group]:
    out = [Group("overall", "overall (cat 1-4)", tuple(i for i, g in enumerate(golds) if g.category in HEADLINE))]
    for cat in sorted({g.category for g in golds}):
        name = CATEGORIES.get(cat, "unknown category")
        out.append(Group(f"cat{cat}", f"{cat} {name}", tuple(i for i, g in enumerate(golds) if g.category == cat)))
    return out


def score(golds: list[Gold], out: RunOutput) -> dict[str, list[dict[str, float]]]:
    return {method: [item_metrics(a.ranked, a.packed, g.evidence) if g.evidence else {}
                     for a, g in zip(answered, golds, strict=True)]
            for method, answered in out.results.items()}


def question_lines(golds: list[Gold], out: RunOutput, rows: dict[str, list[dict[str, float]]]) -> list[str]:
    """One JSON line per question: where each method put the evidence (for error analysis)."""
    lines = []
    for i, g in enumerate(golds):
        per_method: dict[str, Any] = {}
        for method, answered in out.results.items():
            ranks = [answered[i].ranked.index(e) + 1 if e in answered[i].ranked else None for e in g.evidence]
            row = rows[method][i]
            per_method[method] = {"evidence_ranks": ranks, **{k: row[k] for k in ("recall@10", "mrr") if k in row},
                                  **{k: v for k, v in row.items() if k.startswith("budget_recall")}}
        lines.append(json.dumps({"qid": g.qid, "category": g.category, "evidence": list(g.evidence),
                                 "methods": per_method}))
    return lines


def run_locomo(path: Path, config: RunConfig, answer: AnswerSetup | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    at_start = snapshot()
    loaded = load(path, config.limit)
    with fresh_memory(config) as mem:
        out = run(config, mem, loaded.batches, loaded.queries, key_of)
    rows = score(loaded.golds, out)
    result: dict[str, Any] = {
        "benchmark": "locomo",
        "config": run_info(config, out, path, started, at_start),
        "data": loaded.info,
        "evidence": loaded.issues.as_dict(),
        "groups": summarize(groups(loaded.golds), rows, out.results),
        "latency": latency_summary(out),
    }
    if answer is not None:
        tasks = [AnswerTask(g.qid, f"cat{g.category}", q.text, g.answer)
                 for q, g in zip(loaded.queries, loaded.golds, strict=True) if g.category in HEADLINE]
        index = {g.qid: i for i, g in enumerate(loaded.golds)}
        result["answers"] = run_answers(answer, tasks, out.results, index, progress=config.progress())
    result["config"]["timing_s"]["total"] = round(time.perf_counter() - started, 2)
    finish(result, config, "locomo", question_lines(loaded.golds, out, rows))
    return result
