"""Recall vs token budget, one line per method (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engramdb.core.errors import ConfigError

_STYLE: dict[str, dict[str, Any]] = {"engramdb": {"linewidth": 2.6, "marker": "o", "zorder": 5},
          "random": {"linestyle": ":", "marker": "x"}}


def plot_budget(result: dict[str, Any], path: Path) -> Path:
    """Two panels for the overall group: evidence recall and all-evidence rate within each budget."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("the benchmark plot needs matplotlib (pip install engramdb[dev])") from exc
    cfg = result["config"]
    budgets = cfg["budgets"]
    overall = result["groups"]["overall"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharex=True)
    for ax, prefix, ylabel in ((axes[0], "budget_recall", "evidence recall within budget"),
                               (axes[1], "budget_all", "questions with all evidence within budget")):
        for method in cfg["methods"]:
            values = [overall["methods"][method].get(f"{prefix}@{b}") for b in budgets]
            style: dict[str, Any] = _STYLE.get(method, {"marker": "s"})
            ax.plot(budgets, [v if v is not None else float("nan") for v in values], label=method, **style)
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets)
        ax.set_xticklabels([str(b) for b in budgets])
        ax.set_xlabel("context budget (cl100k_base tokens)")
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 1)
        ax.grid(True, alpha=0.3)
    axes[0].legend(loc="center right")
    fig.suptitle(f"{result['benchmark']} — {overall['label']}, {overall['scored']} questions, "
                 f"embedder {cfg['embedder']}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
