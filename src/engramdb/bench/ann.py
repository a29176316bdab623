"""``engram bench ann``: which ANN library, from which scope size on, and what it buys a search.

1. The library comparison (bench/ann_libs.py) on real vectors: the packaged model's vectors
   of LoCoMo and LongMemEval turns from the embedding cache (``--cache``), queried with the
   LoCoMo questions embedded by the same model.
2. The threshold: the exact scan (one matrix-vector product and a top 100, one BLAS thread:
   what the store does per dense list) against the number of vectors, next to the ANN query.
3. Optionally (``--layouts``) whole searches through the store: before (exact scan, global
   keyword plan), with the scope-first keyword plan, and with the ANN tier too, with the
   1,000-token budget (bench/ann_store.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from engramdb.bench.ann_libs import LIBRARIES, compare, exact_scan_ms, exact_top
from engramdb.bench.common import machine, write_json
from engramdb.core.ports import Embedder, Matrix
from engramdb.formats.base import load_json

THRESHOLD_SIZES = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 150_000)


def cached_vectors(cache: Path, model_id: str, limit: int | None = None) -> Matrix:
    """Distinct document vectors of ``model_id`` from an embedding cache file (embedders/cache.py)."""
    db = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT vector, dim FROM vectors WHERE model_id = ? ORDER BY text_sha256"
                          + (" LIMIT ?" if limit else ""), (model_id, limit) if limit else (model_id,)).fetchall()
    finally:
        db.close()
    if not rows:
        raise ValueError(f"no vectors of {model_id} in {cache}")
    dim = int(rows[0][1])
    matrix = np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32).reshape(len(rows), dim)
    return np.unique(matrix, axis=0)


def questions(locomo: Path, embedder: Embedder, n: int) -> Matrix:
    texts = [str(q["question"]) for s in load_json(locomo) for q in s["qa"]][:n]
    return np.stack([embedder.embed_query(t) for t in texts]).astype(np.float32)


def threshold(vectors: Matrix, queries: Matrix, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        if size > vectors.shape[0]:
            break
        rows.append({"vectors": size, "exact_scan": exact_scan_ms(np.ascontiguousarray(vectors[:size]), queries)})
    return rows


def run_ann(locomo: Path, cache: Path, *, embedder: str | None, sizes: list[int], libraries: list[str],
            n_queries: int, out_dir: Path, layouts: list[str], longmemeval: Path | None = None,
            work: Path | None = None, passes: int = 3, modes: list[str] | None = None) -> dict[str, Any]:
    from engramdb.registry import open_embedder

    console = Console()
    model = open_embedder(embedder)
    vectors = cached_vectors(cache, model.model_id)
    queries = questions(locomo, model, n_queries)
    console.print(f"{vectors.shape[0]} distinct vectors of {model.model_id}; {queries.shape[0]} questions")
    result: dict[str, Any] = {"machine": machine(), "model": model.model_id, "vectors": int(vectors.shape[0]),
                              "queries": int(queries.shape[0]), "libraries": [], "threshold": []}
    if sizes:
        result["threshold"] = threshold(vectors, queries, THRESHOLD_SIZES)
    for size in sizes:
        matrix = np.ascontiguousarray(vectors[:size])
        truth10, truth100 = exact_top(matrix, queries, 10), exact_top(matrix, queries, 100)
        rows = compare(matrix, queries, truth10, truth100, libraries)
        for row in rows:
            row["exact_scan"] = exact_scan_ms(matrix, queries)
        result["libraries"] += rows
        write_json(out_dir, "ann.json", result)
    name = "ann.json" if sizes else "ann-store.json"
    if layouts:
        from engramdb.bench.ann_store import MODES, store_searches

        result["store"] = store_searches(layouts, work or out_dir / "ann-work", locomo, longmemeval, cache, embedder,
                                         passes, modes or list(MODES), n_queries)
    write_json(out_dir, name, result)
    _print(result, console)
    return result


def _print(result: dict[str, Any], console: Console) -> None:
    table = Table(title="ANN libraries (one query thread, top 100, expansion 128; exact = numpy scan)")
    for col in ("library", "vectors", "build s", "p50 ms", "p95 ms", "exact p50", "R@10", "R@100", "RSS MB",
                "file MB"):
        table.add_column(col, justify="left" if col == "library" else "right")
    for row in result["libraries"]:
        if not row.get("installed"):
            table.add_row(row["library"], "not installed", *[""] * 8)
            continue
        table.add_row(row["library"], str(row["vectors"]), str(row["build_s"]), str(row["query"]["p50_ms"]),
                      str(row["query"]["p95_ms"]), str(row["exact_scan"]["p50_ms"]), str(row["recall_at_10"]),
                      str(row["recall_at_100"]), str(row["rss_growth_mb"]), str(row["file_mb"]))
    console.print(table)
    thr = Table(title="Exact scan vs vectors (one dense list: matrix-vector product + top 100)")
    for col in ("vectors", "p50 ms", "p95 ms"):
        thr.add_column(col, justify="right")
    for row in result["threshold"]:
        thr.add_row(str(row["vectors"]), str(row["exact_scan"]["p50_ms"]), str(row["exact_scan"]["p95_ms"]))
    console.print(thr)
    for row in result.get("store", []):
        st = Table(title=f"Store search: {row['layout']} ({row['questions']} questions, 1,000-token budget; "
                         f"dense recall@10 of the ANN vs exact: {row['dense_recall_at_10']})")
        for col in ("mode", "p50 ms min/med", "p95 ms min/med", "CPU p50 / p95 ms (med)", "indexes", "warm s"):
            st.add_column(col, justify="left" if col == "mode" else "right")
        for m in row["modes"]:
            st.add_row(m["mode"], f"{m['p50_ms']['min']} / {m['p50_ms']['median']}",
                       f"{m['p95_ms']['min']} / {m['p95_ms']['median']}",
                       f"{m['cpu_p50_ms']['median']} / {m['cpu_p95_ms']['median']}", str(m["indexes"]),
                       str(m["warm_s"]))
        console.print(st)


__all__ = ["LIBRARIES", "cached_vectors", "run_ann"]
