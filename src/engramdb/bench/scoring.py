"""Per-question metric rows -> per-group, per-method means, with engramdb's ratio to the best baseline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engramdb.bench.baselines import BASELINES
from engramdb.bench.metrics import mean_rows, ratio
from engramdb.bench.runner import Answered

OURS = "engramdb"


@dataclass(frozen=True)
class Group:
    """A reported slice of the questions (a category, a question type, overall)."""

    key: str
    label: str
    members: tuple[int, ...]  # indices into the run's question list


def summarize(groups: Sequence[Group], rows: Mapping[str, Sequence[dict[str, float]]],
              results: Mapping[str, Sequence[Answered]]) -> dict[str, Any]:
    """``rows[method][i]`` holds question i's metrics (empty when it has no resolvable evidence)."""
    out: dict[str, Any] = {}
    for g in groups:
        entry: dict[str, Any] = {"label": g.label, "questions": len(g.members), "methods": {}}
        first = next(iter(rows.values()), [])
        with_items = sum(1 for i in g.members if "mrr" in first[i])
        entry["scored"] = with_items
        entry["no_evidence"] = len(g.members) - with_items
        with_sessions = sum(1 for i in g.members if "session_any@5" in first[i])
        if with_sessions:
            entry["session_scored"] = with_sessions
        for method, per_q in rows.items():
            means = mean_rows([per_q[i] for i in g.members if per_q[i]])
            means.update(_context_tokens([results[method][i] for i in g.members]))
            entry["methods"][method] = {k: round(v, 4) for k, v in means.items()}
        entry["ratio"] = _ratios(entry["methods"])
        out[g.key] = entry
    return out


def _context_tokens(answered: Sequence[Answered]) -> dict[str, float]:
    if not answered:
        return {}
    budgets = sorted(answered[0].context_tokens)
    return {f"context_tokens@{b}": sum(a.context_tokens[b] for a in answered) / len(answered) for b in budgets}


def _ratios(methods: Mapping[str, Mapping[str, float]]) -> dict[str, float | None]:
    if OURS not in methods or not any(b in methods for b in BASELINES):
        return {}
    ours = methods[OURS]
    out: dict[str, float | None] = {}
    for metric, value in ours.items():
        if metric.startswith("context_tokens"):
            continue
        best = ratio(value, [methods[b].get(metric) for b in BASELINES if b in methods])
        out[metric] = None if best is None else round(best, 4)
    return out


def best_baseline(methods: Mapping[str, Mapping[str, float]], metric: str) -> str | None:
    present = [b for b in BASELINES if b in methods and metric in methods[b]]
    return max(present, key=lambda b: (methods[b][metric], b)) if present else None
