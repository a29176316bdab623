"""The summary of ``engram bench scale``: every run file of ``bench-out/scale/runs`` in one
JSON (``scale.json``), a table, the targets of issue 13 §7 against what was measured, and a
log-log plot of search latency against size per store and layout with the fitted slope."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from engramdb.bench.common import write_json


@dataclass(frozen=True)
class Goal:
    label: str
    layout: str
    size: int  # 0: the largest run of each store
    limit: float
    store: str | None = None  # None: every store measured
    ann: bool | None = None  # True: only runs whose dense list came from the ANN tier
    metric: str = "p95"  # p95 (ms, at most) or recall (at least)


GOALS = (
    Goal("one scope, 100k memories, SQLite: search p95 <= 20 ms", "one", 100_000, 20, "sqlite"),
    Goal("one scope, 1M memories, SQLite with ANN: search p95 <= 50 ms", "one", 1_000_000, 50, "sqlite", True),
    Goal("one scope, 1M memories, PostgreSQL: search p95 <= 50 ms", "one", 1_000_000, 50, "postgresql"),
    Goal("users of 100 memories, any one user: search p95 <= 10 ms (target at 10k users; largest run)",
         "many", 0, 10),
    Goal("100 users x 500 LongMemEval turns, any one user: search p95 <= 20 ms", "lme", 100, 20),
    Goal("ANN recall@10 >= 0.95 (largest one-scope run with an ANN index)", "one", 0, 0.95, None, True, "recall"),
)


def load_runs(folder: Path) -> list[dict[str, Any]]:
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((folder / "runs").glob("*.json"))]
    return sorted(runs, key=lambda r: (r["store"], r["layout"], r["size"]))


def row(run: dict[str, Any]) -> dict[str, Any]:
    """The numbers of one run the table and the targets use."""
    s, fill, disk = run["search"], run["fill"], run["disk"]
    return {
        "store": run["store"], "layout": run["layout"], "size": run["size"], "memories": fill["memories"],
        "real": fill["real_memories"], "synthetic": fill["synthetic_memories"], "users": fill["users"],
        "p50_ms": s["p50_ms"]["median"], "p95_ms": s["p95_ms"]["median"], "p95_ms_min": s["p95_ms"]["min"],
        "cpu_p50_ms": s["cpu_p50_ms"]["median"], "cpu_p95_ms": s["cpu_p95_ms"]["median"],
        "first_search_ms": run["index"]["first_search_ms"], "ann_build_s": (run["index"]["ann"] or {}).get("build_s"),
        "recall_at_10": run["recall"]["recall_at_k"], "dense_list": run["recall"]["dense_list"],
        # the exact scan's latency: the run's own when it scanned exactly, else its exact pass
        "exact_p50_ms": _exact(run, "p50_ms"), "exact_p95_ms": _exact(run, "p95_ms"),
        "fill_per_s": fill["memories_per_s"], "ack_per_s": run["ack"]["add_many"]["memories_per_s"],
        "add_one_p50_ms": run["ack"]["add_one"].get("p50_ms"), "catch_up_per_s": run["catch_up"]["memories_per_s"],
        "catch_up_projected_s": run["catch_up"]["projected_s_for_size"],
        "bytes_per_memory": disk["bytes_per_memory"], "peak_rss_mb": run["rss_mb"]["peak"],
        "load_1m": run.get("load_start", {}).get("1m"), "date": run.get("machine", {}).get("date"),
        "commit": run.get("machine", {}).get("git_commit"),
    }


def _exact(run: dict[str, Any], key: str) -> float | None:
    if "search_exact" in run:
        return float(run["search_exact"][key]["median"])
    return float(run["search"][key]["median"]) if run["recall"]["dense_list"] == "exact" else None


def check(goals: Sequence[Goal], rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for goal in goals:
        hits = [r for r in rows if r["layout"] == goal.layout and (goal.store is None or r["store"] == goal.store)
                and (goal.ann is None or (r["dense_list"] != "exact") == goal.ann)
                and (goal.size == 0 or r["size"] == goal.size)]
        if goal.size == 0 and hits:  # the largest run of each store
            hits = [max((r for r in hits if r["store"] == s), key=lambda r: r["size"]) for s in
                    sorted({r["store"] for r in hits})]
        if not hits:
            out.append({"target": goal.label, "measured": None, "met": None})
        for r in hits:
            value = r["recall_at_10"] if goal.metric == "recall" else r["p95_ms"]
            met = value >= goal.limit if goal.metric == "recall" else value <= goal.limit
            out.append({"target": goal.label, "store": r["store"], "size": r["size"], "measured": value, "met": met,
                        "cpu_p95_ms": None if goal.metric == "recall" else r["cpu_p95_ms"], "load_1m": r["load_1m"]})
    return out


def slopes(rows: Sequence[dict[str, Any]], cpu: bool = False) -> dict[str, float]:
    """The slope of log10(p95) against log10(size) per store and layout (two sizes or more);
    ``cpu``: of the search thread's CPU time instead of wall time."""
    out = {}
    for key, pts in _series(rows, cpu).items():
        if len(pts) >= 2:
            x = np.log10([p[0] for p in pts])
            y = np.log10([max(p[2], 1e-3) for p in pts])
            out[key] = round(float(np.polyfit(x, y, 1)[0]), 3)
    return out


def _series(rows: Sequence[dict[str, Any]], cpu: bool = False) -> dict[str, list[tuple[int, float, float]]]:
    """Per store and layout: as the store runs (its ANN tier past the threshold), and, where the
    tier answered, the exact scan on the same store (wall time only)."""
    series: dict[str, list[tuple[int, float, float]]] = {}
    for r in rows:
        if r["layout"] == "lme":
            continue
        key = f"{r['store']} / {r['layout']}"
        series.setdefault(key, []).append((r["memories"], *((r["cpu_p50_ms"], r["cpu_p95_ms"]) if cpu else
                                                            (r["p50_ms"], r["p95_ms"]))))
        if cpu:
            continue
        tiered = any(x["dense_list"] == "ann" for x in rows if x["store"] == r["store"] and x["layout"] == r["layout"])
        if tiered and r["exact_p95_ms"] is not None:
            series.setdefault(f"{key}, exact scan", []).append((r["memories"], r["exact_p50_ms"], r["exact_p95_ms"]))
    return {k: sorted(v) for k, v in series.items()}


def summarize(folder: Path, machine: dict[str, Any], argv: list[str], console: Console) -> dict[str, Any]:
    runs = load_runs(folder)
    rows = [row(r) for r in runs]
    result = {"machine": machine, "command": argv, "rows": rows, "targets": check(GOALS, rows),
              "slopes_p95": slopes(rows), "slopes_cpu_p95": slopes(rows, cpu=True), "runs": [r["spec"] for r in runs]}
    if rows:
        result["plot"] = str(plot(rows, folder / "scale.png"))
    write_json(folder, "scale.json", result)
    print_tables(result, console)
    return result


def plot(rows: Sequence[dict[str, Any]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 5))
    fitted = slopes(rows)
    for key, pts in _series(rows).items():
        xs = [p[0] for p in pts]
        line = ax.plot(xs, [p[2] for p in pts], marker="o", label=f"{key} p95"
                       + (f" (slope {fitted[key]:.2f})" if key in fitted else ""))[0]
        ax.plot(xs, [p[1] for p in pts], marker=".", linestyle=":", color=line.get_color(), label=f"{key} p50")
    for r in rows:
        if r["layout"] == "lme":
            ax.scatter([r["memories"]], [r["p95_ms"]], marker="*", s=120, zorder=5,
                       label=f"{r['store']} / {r['users']} LongMemEval users p95")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("memories in the store")
    ax.set_ylabel("search ms, wall (1,000 tokens, no query embedding)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("engram bench scale: search latency against size", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def print_tables(result: dict[str, Any], console: Console) -> None:
    table = Table(title="engram bench scale (p50 / p95: median over passes)")
    for col in ("store", "layout", "memories", "users", "search p50 / p95 ms", "CPU p50 / p95 ms",
                "exact scan p50 / p95", "first search ms", "recall@10",
                "fill /s", "ack /s", "catch-up /s", "bytes/memory", "peak RSS MB", "load"):
        table.add_column(col, justify="left" if col in ("store", "layout") else "right")
    for r in result["rows"]:
        table.add_row(r["store"], r["layout"], f"{r['memories']:,}", f"{r['users']:,}",
                      f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f}", f"{r['cpu_p50_ms']:.1f} / {r['cpu_p95_ms']:.1f}",
                      "-" if r["dense_list"] == "exact" or r["exact_p95_ms"] is None
                      else f"{r['exact_p50_ms']:.1f} / {r['exact_p95_ms']:.1f}",
                      f"{r['first_search_ms']:,.0f}", _num(r["recall_at_10"], "{:.3f}")
                      + ("" if r["dense_list"] == "exact" else f" ({r['dense_list']})"),
                      _num(r["fill_per_s"], "{:,.0f}"), _num(r["ack_per_s"], "{:,.0f}"),
                      _num(r["catch_up_per_s"], "{:,.1f}"), _num(r["bytes_per_memory"], "{:,.0f}"),
                      _num(r["peak_rss_mb"], "{:,.0f}"), _num(r["load_1m"], "{:.1f}"))
    console.print(table)
    goals = Table(title="targets (issue 13 §7)")
    for col in ("target", "store", "measured", "met", "CPU p95 ms", "load"):
        goals.add_column(col)
    for t in result["targets"]:
        goals.add_row(t["target"], t.get("store", "-"), _num(t["measured"], "{:.3f}"),
                      "not run" if t["met"] is None else ("yes" if t["met"] else "NO"),
                      _num(t.get("cpu_p95_ms"), "{:.1f}"), _num(t.get("load_1m"), "{:.1f}"))
    console.print(goals)
    if result["slopes_p95"]:
        console.print("fitted slope of log p95 against log size: "
                      + ", ".join(f"{k} {v:.2f}" for k, v in result["slopes_p95"].items())
                      + "; of the CPU p95: " + ", ".join(f"{k} {v:.2f}" for k, v in result["slopes_cpu_p95"].items()))


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)
