"""``engram bench ablation``: each retrieval technique on/off, and cross-validated tuning.

The LoCoMo conversations are ingested once (twice for the index-time
ablation: without the speaker in the index). Every variant then runs the
real ``Memory.search`` with different ``SearchParams``. Tuning is
leave-one-conversation-out: for each conversation, the grid point that is
best on the *other* conversations is scored on it, so the reported tuned
number never saw its own questions. Only the scorer reads evidence.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from engramdb.bench.common import machine, write_json
from engramdb.bench.locomo import HEADLINE, Gold, key_of, load
from engramdb.bench.runner import default_cache
from engramdb.embedders.cache import CachedEmbedder
from engramdb.engine.memory import Memory
from engramdb.formats.base import Batch
from engramdb.registry import open_embedder
from engramdb.retrieval.search import SearchParams

BUDGET = 1000
DEFAULT = SearchParams()
VARIANTS: dict[str, SearchParams] = {
    "engramdb (all on)": DEFAULT,
    "- speaker focus": replace(DEFAULT, speaker_weight=0.0),
    "- role focus (no effect on LoCoMo: third-person questions)": replace(DEFAULT, role_weight=0.0),
    "- episode windows (bm25)": replace(DEFAULT, window_weight=0.0),
    "- episode windows (dense)": replace(DEFAULT, dense_window_weight=0.0),
    "- episode windows (both)": replace(DEFAULT, window_weight=0.0, dense_window_weight=0.0),
    "- sentence keys": replace(DEFAULT, sentence_weight=0.0),
    "- names out of the dense query": replace(DEFAULT, dense_without_names=False),
    "- time focus": replace(DEFAULT, time_weight=0.0),
    "- date-window candidates": replace(DEFAULT, time_candidates=0),
    "- knowledge update (present-tense questions: newest of near-duplicate answers first)":
        replace(DEFAULT, update_weight=0.0),
    "+ session boost (0.2)": replace(DEFAULT, session_weight=0.2),
    "+ temporal neighbours (top 10, ±2)": replace(DEFAULT, neighbour_top=10),
    "+ both (the pipeline before episode windows)": replace(DEFAULT, session_weight=0.2, neighbour_top=10),
    "+ follow links (rare names of the top 10, at 0.7 of the hit's score)": replace(DEFAULT, link_weight=0.7),
    "rrf fusion instead of score fusion": replace(DEFAULT, fusion="rrf"),
    "equal bm25/dense weights": replace(DEFAULT, dense_weight=1.0),
    "keyword only (bm25 + bm25 windows, + expansions)": replace(DEFAULT, dense_weight=0.0, dense_window_weight=0.0,
                                                                 sentence_weight=0.0),
    "dense only (dense + dense windows, + expansions)": replace(DEFAULT, bm25_weight=0.0, window_weight=0.0),
}
GRID = {"sentence_weight": (0.0, 0.5), "dense_weight": (0.3, 0.5), "dense_window_weight": (0.7, 1.0, 1.3),
        "window_weight": (0.7, 1.0)}


@dataclass
class Row:
    conv: str
    category: int
    recall10: float
    recall_budget: float
    all_budget: float


def _score(mem: Memory, params: SearchParams, queries: list[Any], golds: list[Gold],
           with_top10: bool = True) -> list[Row]:
    mem.search_params = params
    rows = []
    for q, g in zip(queries, golds, strict=True):
        if g.category not in HEADLINE or not g.evidence:
            continue
        ev = set(g.evidence)
        packed = mem.search(q.text, user_id=q.user_id, budget_tokens=BUDGET, now=q.now).packed
        got10 = {key_of(h.record) for h in mem.search(q.text, user_id=q.user_id, k=10, now=q.now).hits} \
            if with_top10 else set()
        got = {key_of(h.record) for h in packed}
        rows.append(Row(q.user_id, g.category, len(ev & got10) / len(ev), len(ev & got) / len(ev),
                        float(ev <= got)))
    return rows


def _objective(rows: list[Row]) -> float:
    """What tuning maximises: evidence recall within the budget and the share of questions with
    all their evidence within it, equally (the second is what multi-hop answers need)."""
    return float(np.mean([(r.recall_budget + r.all_budget) / 2 for r in rows]))


def _summary(rows: list[Row]) -> dict[str, float]:
    out = {"recall@10": float(np.mean([r.recall10 for r in rows])),
           f"recall<={BUDGET}": float(np.mean([r.recall_budget for r in rows])),
           f"all<={BUDGET}": float(np.mean([r.all_budget for r in rows]))}
    multi = [r for r in rows if r.category == 1]
    if multi:
        out[f"cat1 all<={BUDGET}"] = float(np.mean([r.all_budget for r in multi]))
    return {k: round(v, 4) for k, v in out.items()}


def _ingest(path: Path, batches: list[Batch], embedder: Any, speaker: bool) -> Memory:
    mem = Memory(path, embedder=embedder)
    for b in batches:
        msgs = b.messages if speaker else [{k: v for k, v in m.items() if k != "speaker"} for m in b.messages]
        mem.add(msgs, user_id=b.user_id, session_id=b.session_id)
    mem.flush()
    return mem


def run_ablation(data: Path, *, out_dir: Path, embedder_spec: str | None, limit: int | None,
                 tune: bool = True) -> dict[str, Any]:
    console = Console(stderr=True)
    loaded = load(data, limit)
    embedder = CachedEmbedder(open_embedder(embedder_spec), default_cache())
    work = out_dir / "ablation-work"
    work.mkdir(parents=True, exist_ok=True)
    for f in work.glob("*.db*"):
        f.unlink()
    t0 = time.perf_counter()
    mem = _ingest(work / "full.db", loaded.batches, embedder, speaker=True)
    results: dict[str, Any] = {}
    for name, params in VARIANTS.items():
        console.print(f"variant: {name}")
        results[name] = _summary(_score(mem, params, loaded.queries, loaded.golds))
    console.print("variant: - speaker in index (re-ingest)")
    nospk = _ingest(work / "nospeaker.db", loaded.batches, embedder, speaker=False)
    results["- speaker in index"] = _summary(_score(nospk, DEFAULT, loaded.queries, loaded.golds))
    nospk.close()
    payload: dict[str, Any] = {"budget": BUDGET, "variants": results, "defaults": _params(DEFAULT),
                               "embedder": embedder.model_id, "machine": machine()}
    if tune:
        payload["cross_validation"] = _cross_validate(mem, loaded, console)
    payload["seconds"] = round(time.perf_counter() - t0, 1)
    mem.close()
    write_json(out_dir, "ablation.json", payload)
    _print(payload)
    return payload


def _params(p: SearchParams) -> dict[str, Any]:
    return {name: getattr(p, name) for name in SearchParams.__dataclass_fields__}


def _cross_validate(mem: Memory, loaded: Any, console: Console) -> dict[str, Any]:
    names = list(GRID)
    grid: list[dict[str, Any]] = [dict(zip(names, values, strict=True)) for values in itertools.product(*GRID.values())]
    per_point: list[list[Row]] = []
    for i, point in enumerate(grid):
        console.print(f"grid {i + 1}/{len(grid)}: {point}")
        per_point.append(_score(mem, replace(DEFAULT, **point), loaded.queries, loaded.golds, with_top10=False))
    convs = sorted({r.conv for r in per_point[0]})
    held_out: list[Row] = []
    chosen = {}
    for conv in convs:
        train = [_objective([r for r in rows if r.conv != conv]) for rows in per_point]
        best = int(np.argmax(train))
        chosen[conv] = grid[best]
        held_out += [r for r in per_point[best] if r.conv == conv]
    default_rows = _score(mem, DEFAULT, loaded.queries, loaded.golds)
    summary = _summary(held_out)
    summary.pop("recall@10")  # the grid search scores budgets only
    means = [{**point, **{k: v for k, v in _summary(rows).items() if k != "recall@10"},
              "objective": round(_objective(rows), 4)}
             for point, rows in zip(grid, per_point, strict=True)]
    return {"grid": GRID, "chosen_per_fold": chosen, "held_out": summary, "grid_means": means,
            "defaults_on_all": _summary(default_rows)}


def _print(payload: dict[str, Any]) -> None:
    table = Table(title=f"ablation on LoCoMo cat 1-4 (budget {payload['budget']} tokens)")
    metrics = list(next(iter(payload["variants"].values())))
    table.add_column("variant")
    for m in metrics:
        table.add_column(m, justify="right")
    for name, summary in payload["variants"].items():
        table.add_row(name, *[f"{summary.get(m, 0):.3f}" for m in metrics])
    if "cross_validation" in payload:
        cv = payload["cross_validation"]
        cells = [f"{cv['held_out'][m]:.3f}" if m in cv["held_out"] else "–" for m in metrics]
        table.add_row("tuned, leave-one-conversation-out", *cells)
    Console().print(table)
