"""A Markdown summary of a run (``NAME.md``), ready to paste into BENCHMARKS.md."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engramdb.bench.baselines import BASELINES
from engramdb.bench.report import SESSION, label


def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if metric.startswith("context_tokens") else f"{value:.3f}"


def metric_table(entry: dict[str, Any], metrics: Sequence[str], methods: Sequence[str]) -> str:
    """Rows = metrics, columns = methods (engramdb in bold) and engramdb ÷ best baseline."""
    with_ratio = "engramdb" in methods and any(b in methods for b in BASELINES)
    head = ["metric", *methods, *(["engramdb ÷ best baseline"] if with_ratio else [])]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for metric in metrics:
        values = [entry["methods"][m].get(metric) for m in methods]
        if all(v is None for v in values):
            continue
        cells = [f"**{_fmt(v, metric)}**" if m == "engramdb" else _fmt(v, metric) for m, v in zip(methods, values,
                                                                                               strict=True)]
        if with_ratio:
            r = entry["ratio"].get(metric)
            cells.append("–" if r is None else f"{r:.2f}×")
        lines.append(f"| {label(metric)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def group_table(groups: dict[str, Any], metric: str, methods: Sequence[str]) -> str:
    """Rows = groups (overall, categories / question types), columns = methods, for one metric."""
    lines = ["| group | scored | " + " | ".join(methods) + " | engramdb ÷ best |",
             "|---|---:|" + "---:|" * (len(methods) + 1)]
    for entry in groups.values():
        values = [_fmt(entry["methods"][m].get(metric), metric) for m in methods]
        r = entry["ratio"].get(metric)
        lines.append(f"| {entry['label']} | {entry['scored']}/{entry['questions']} | " + " | ".join(values)
                     + " | " + ("–" if r is None else f"{r:.2f}×") + " |")
    return "\n".join(lines)


def latency_table(latency: dict[str, Any]) -> str:
    lines = ["| | p50 ms | p95 ms |", "|---|---:|---:|"]
    for key, stats in latency.items():
        if stats.get("n"):
            lines.append(f"| {key.replace('_', ' ')} | {stats['p50_ms']:.1f} | {stats['p95_ms']:.1f} |")
    return "\n".join(lines)


def to_markdown(result: dict[str, Any]) -> str:
    cfg = result["config"]
    methods, budgets, groups = cfg["methods"], cfg["budgets"], result["groups"]
    overall = groups["overall"]
    sessions = "session_scored" in overall
    machine = cfg["machine"]
    dirty = " (plus uncommitted changes)" if cfg.get("git_dirty") else ""
    parts = [
        f"## {result['benchmark']}: {overall['label']}, {overall['scored']} questions with evidence"
        + (f" ({result['data']['stopped']})" if result.get("data", {}).get("stopped") else ""),
        f"Embedder `{cfg['embedder']}`, commit `{(machine.get('git_commit') or '?')[:7]}`{dirty}, "
        f"{machine['date']}, {machine['cpus']} CPUs, Python {machine['python']}. "
        f"Run time {cfg['timing_s']['total']:.0f} s (ingest {cfg['timing_s']['ingest']:.0f} s, "
        f"searches {cfg['timing_s']['search']:.0f} s).",
        "Evidence inside the packed context:",
        metric_table(overall, [f"budget_recall@{b}" for b in budgets] + [f"budget_all@{b}" for b in budgets],
                     methods),
        "Ranking:",
        metric_table(overall, [f"recall@{k}" for k in (1, 3, 5, 10, 20)] + [f"all@{k}" for k in (5, 10, 20)]
                     + ["ndcg@10", "mrr", *(SESSION if sessions else ())], methods),
        f"Recall within a {budgets[len(budgets) // 2]}-token budget per group:",
        group_table(groups, f"budget_recall@{budgets[len(budgets) // 2]}", methods),
        "Recall@10 per group:",
        group_table(groups, "recall@10", methods),
    ]
    if sessions:
        parts += ["Session recall_all@5 per group:", group_table(groups, "session_all@5", methods),
                  "Session recall_all@10 per group:", group_table(groups, "session_all@10", methods),
                  "Turn recall_all@10 per group:", group_table(groups, "all@10", methods)]
    parts += ["Search latency at a 1000-token budget (query embedding apart):", latency_table(result["latency"])]
    return "\n\n".join(parts) + "\n"
