"""``engram bench ...``: benchmarks that print numbers and write JSON."""

from __future__ import annotations

from pathlib import Path

import click

from engramdb.bench.common import DEFAULT_DATA


@click.group()
def bench() -> None:
    """Benchmarks (speed and retrieval quality)."""


@bench.command()
@click.argument("locomo", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=DEFAULT_DATA / "locomo" / "locomo_dev.json")
@click.option("--embedder", envvar="ENGRAM_EMBEDDER", default=None)
@click.option("--sizes", default="10000,100000", show_default=True, help="Scope sizes for search latency.")
@click.option("--adds", type=click.IntRange(1), default=200, show_default=True, help="Single-message adds.")
@click.option("--queries", type=click.IntRange(1), default=200, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"))
@click.option("--seed", type=int, default=0, show_default=True)
def perf(locomo: Path, embedder: str | None, sizes: str, adds: int, queries: int, out_dir: Path, seed: int) -> None:
    """add() latency, bulk import throughput, search latency at 10k/100k memories."""
    from engramdb.bench.perf import run_perf

    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("sizes must be comma-separated integers") from None
    run_perf(locomo, embedder=embedder, sizes=size_list, single_adds=adds, queries=queries, out_dir=out_dir,
             seed=seed)
