"""The table ``engram bench perf`` prints: best and median over the rounds of each measure
(best: the lowest time, the highest rate)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def print_table(result: dict[str, Any]) -> None:
    s = result["summary"]
    table = Table(title=f"engram bench perf ({result['embedder']}, {result['repeats']} rounds)")
    table.add_column("measure")
    table.add_column("best", justify="right")
    table.add_column("median", justify="right")
    for label, name in (("add() one message, acknowledged (background)", "add_background"),
                        ("add() one message, inline (background=False)", "add_inline")):
        add = s[name]
        table.add_row(f"{label}, p50 / p95 ms", *_pair(add["p50_ms"], add["p95_ms"]))
        table.add_row("  its thread's CPU time, p50 / p95 ms", *_pair(add["cpu_p50_ms"], add["cpu_p95_ms"]))
    table.add_row("  flush after the background adds, s", *_one(s["add_background"]["flush_s"]))
    table.add_row("  inline / background p50", *_one(s["add_speedup_p50"], high=True, fmt="{:.1f}x"))
    for label, name in (("LoCoMo dev", "import_locomo"), ("LongMemEval dev subset", "import_longmemeval")):
        if name not in s:
            continue
        imp, first = s[name], result["rounds"][name][0]
        table.add_row(f"import {label} ({first['turns']:,} turns, {first['vectors']:,} vectors)", "", "")
        table.add_row("  acknowledged (keyword-searchable), turns/s", *_one(imp["acknowledged_turns_per_s"], True))
        table.add_row("  embedding catch-up, turns/s / vectors/s",
                      *_pair(imp["embed_turns_per_s"], imp["embed_vectors_per_s"], high=True, fmt="{:,.0f}"))
        table.add_row("  fully vector-searchable after, s", *_one(imp["searchable_s"]))
        table.add_row("  worker busy: turns/s", *_one(imp.get("worker_turns_per_s", {}), True))
        alone = s.get(name.replace("import_", "model_only_"))
        if alone:
            table.add_row("  the embedder alone (first turns), turns/s / vectors/s",
                          *_pair(alone["turns_per_s"], alone["vectors_per_s"], high=True, fmt="{:,.0f}"))
    for name, runs in result["rounds"].items():
        if name.startswith("catch_up_"):
            c = s[name]
            table.add_row(f"search while catching up ({runs[0]['scope']}, {name.removeprefix('catch_up_')}), "
                          "p50 / p95 ms", *_pair(c["during"].get("p50_ms", {}), c["during"].get("p95_ms", {})))
            table.add_row("  same queries idle, p50 / p95 ms", *_pair(c["idle"]["p50_ms"], c["idle"]["p95_ms"]))
            table.add_row("  ratio during / idle, p50 / p95",
                          *_pair(c.get("ratio_p50", {}), c.get("ratio_p95", {}), fmt="{:.2f}"))
    for size, q in result["search"].items():
        table.add_row(f"search, {int(size):,} memories, p50 / p95 ms (first query {q['first_query_ms']:.0f} ms)",
                      f"{q['p50_ms']:.1f} / {q['p95_ms']:.1f}", "")
    Console().print(table)


def _one(v: dict[str, float], high: bool = False, fmt: str = "{:,.1f}") -> tuple[str, str]:
    if not v:
        return "-", "-"
    return fmt.format(v["max" if high else "min"]), fmt.format(v["median"])


def _pair(a: dict[str, float], b: dict[str, float], high: bool = False, fmt: str = "{:,.1f}") -> tuple[str, str]:
    if not a or not b:
        return "-", "-"
    best = "max" if high else "min"
    return f"{fmt.format(a[best])} / {fmt.format(b[best])}", f"{fmt.format(a['median'])} / {fmt.format(b['median'])}"
