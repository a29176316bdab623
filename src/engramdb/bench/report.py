"""Terminal tables and output files of a retrieval benchmark run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from engramdb.bench.common import write_json
from engramdb.bench.metrics import KS, NDCG_K
from engramdb.bench.runner import RunConfig

LABELS = {f"recall@{k}": f"recall@{k}" for k in KS} | {f"all@{k}": f"all evidence@{k}" for k in KS} | {
    f"ndcg@{NDCG_K}": f"NDCG@{NDCG_K}", "mrr": "MRR"}
SESSION = ("session_any@5", "session_all@5", "session_any@10", "session_all@10")


def _budget_rows(budgets: Sequence[int]) -> list[str]:
    return [f"budget_recall@{b}" for b in budgets] + [f"budget_all@{b}" for b in budgets]


def label(metric: str) -> str:
    if metric.startswith("budget_recall@"):
        return f"recall ≤{metric.split('@')[1]} tok"
    if metric.startswith("budget_all@"):
        return f"all evidence ≤{metric.split('@')[1]} tok"
    if metric.startswith("context_tokens@"):
        return f"tokens used of {metric.split('@')[1]}"
    return LABELS.get(metric, metric.replace("_", " "))


def overall_metrics(budgets: Sequence[int], sessions: bool) -> list[str]:
    ranked = [f"recall@{k}" for k in KS] + [f"all@{k}" for k in (5, 10, 20)] + [f"ndcg@{NDCG_K}", "mrr"]
    return ranked + (list(SESSION) if sessions else []) + _budget_rows(budgets) + [
        f"context_tokens@{b}" for b in budgets]


def group_metrics(budgets: Sequence[int], sessions: bool) -> list[str]:
    if sessions:  # LongMemEval: its headline metrics first
        return ["session_all@5", "session_all@10", "all@10", "recall@10", "mrr",
                *(f"budget_recall@{b}" for b in budgets)]
    return ["recall@10", f"ndcg@{NDCG_K}", "mrr", *(f"budget_recall@{b}" for b in budgets)]


def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if metric.startswith("context_tokens") else f"{value:.3f}"


def _table(title: str, methods: Sequence[str], with_ratio: bool, group_col: bool) -> Table:
    table = Table(title=title, title_justify="left")
    if group_col:
        table.add_column("group")
    table.add_column("metric")
    for m in methods:
        table.add_column(m, justify="right")
    if with_ratio:
        table.add_column("engramdb ÷ best", justify="right")
        table.caption = "engramdb ÷ best: engramdb's value over the best of bm25, dense, hybrid"
    return table


def _rows(table: Table, entry: dict[str, Any], metrics: Sequence[str], methods: Sequence[str], with_ratio: bool,
          group: str | None) -> None:
    first = True
    for metric in metrics:
        values = [entry["methods"][m].get(metric) for m in methods]
        if all(v is None for v in values):
            continue
        cells = [label(metric), *(_fmt(v, metric) for v in values)]
        if with_ratio:
            r = entry["ratio"].get(metric)
            cells.append("–" if r is None else f"{r:.2f}×")
        if group is not None:
            cells.insert(0, group if first else "")
        table.add_row(*cells)
        first = False


def _describe(entry: dict[str, Any]) -> str:
    text = f"{entry['questions']} questions, {entry['scored']} with evidence"
    if entry.get("no_evidence"):
        text += f", {entry['no_evidence']} without resolvable evidence (excluded from recall)"
    if entry.get("session_scored"):
        text += f", {entry['session_scored']} with answer sessions"
    return text


def print_report(result: dict[str, Any], console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)  # a file or pipe: wide enough that tables do not wrap
    cfg = result["config"]
    methods = cfg["methods"]
    budgets = cfg["budgets"]
    groups = result["groups"]
    with_ratio = "engramdb" in methods and any(m in methods for m in ("bm25", "dense", "hybrid"))
    sessions = any("session_scored" in g for g in groups.values())
    name = result["benchmark"]
    overall = groups["overall"]
    t = _table(f"{name} — {overall['label']}: {_describe(overall)}  [embedder {cfg['embedder']}]",
               methods, with_ratio, False)
    _rows(t, overall, overall_metrics(budgets, sessions), methods, with_ratio, None)
    console.print(t)
    t = _table(f"{name} — per group", methods, with_ratio, True)
    for key, entry in groups.items():
        if key == "overall":
            continue
        _rows(t, entry, group_metrics(budgets, sessions), methods, with_ratio,
              f"{entry['label']}\n({entry['scored']}/{entry['questions']} scored)")
        t.add_section()
    console.print(t)
    _print_latency(result, console)
    if "evidence" in result:
        ev = result["evidence"]
        console.print("evidence repair: " + ", ".join(
            f"{k.replace('_', ' ')} {ev[k]}" for k in ("questions", "entries", "empty_lists", "split", "reformatted",
                                                          "missing", "unparseable", "duplicates", "no_evidence")))
    if "answers" in result:
        _print_answers(result["answers"], console)


def _print_latency(result: dict[str, Any], console: Console) -> None:
    cfg = result["config"]
    t = Table(title=f"search latency at a {cfg['latency_budget']}-token budget (query embedding apart)",
              title_justify="left")
    for col in ("", "p50 ms", "p95 ms"):
        t.add_column(col, justify="right" if col else "left")
    for key, stats in result["latency"].items():
        if stats.get("n"):
            t.add_row(key.replace("_", " "), f"{stats['p50_ms']:.2f}", f"{stats['p95_ms']:.2f}")
    console.print(t)
    timing = cfg["timing_s"]
    console.print(f"{cfg['records']} records ingested in {timing['ingest']:.1f} s; searches {timing['search']:.1f} s; "
                  f"total {timing['total']:.1f} s")


def _print_answers(answers: dict[str, Any], console: Console) -> None:
    if "skipped" in answers:
        console.print(f"answer quality: skipped — {answers['skipped']}")
        return
    t = Table(title=f"answer accuracy (LLM judge), reader {answers['reader']}, judge {answers['judge']}, "
                    f"{answers['budget_tokens']}-token context, {answers['runs']} run(s)", title_justify="left")
    t.add_column("method")
    t.add_column("group")
    t.add_column("n", justify="right")
    t.add_column("accuracy", justify="right")
    for method, data in answers["methods"].items():
        for group, acc in data["accuracy"].items():
            t.add_row(method, group, str(acc["n"]), f"{acc['accuracy_mean']:.3f} ± {acc['accuracy_std']:.3f}")
        t.add_section()
    console.print(t)


def finish(result: dict[str, Any], config: RunConfig, name: str, question_lines: Sequence[str]) -> dict[str, Path]:
    """Write ``NAME.json``, ``NAME.md``, ``NAME_questions.jsonl`` and ``NAME_recall_vs_budget.png``;
    print the tables."""
    from engramdb.bench.markdown import to_markdown
    from engramdb.bench.plot import plot_budget

    out = config.out_dir
    paths = {"json": out / f"{name}.json", "markdown": out / f"{name}.md",
             "questions": out / f"{name}_questions.jsonl",
             "plot": out / f"{name}_recall_vs_budget.png"}
    result["outputs"] = {k: str(p) for k, p in paths.items()}
    write_json(out, paths["json"].name, result)
    paths["markdown"].write_text(to_markdown(result), encoding="utf-8")
    paths["questions"].write_text("".join(line + "\n" for line in question_lines), encoding="utf-8")
    plot_budget(result, paths["plot"])
    print_report(result)
    return paths
