"""``engram bench scale`` and ``engram bench ann`` (issue 13 §6-§7): search at 10k-1M memories per
store and layout, and the ANN tier and keyword plan; registered on ``engram bench`` by cli/bench.py."""

from __future__ import annotations

from pathlib import Path

import click

from engramdb.bench.common import DEFAULT_DATA


def _sizes(value: str) -> list[int]:
    """``10k,100k,1M`` -> [10000, 100000, 1000000]."""
    out = []
    for part in (p.strip().lower() for p in value.split(",") if p.strip()):
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1], 1)
        try:
            out.append(int(float(part[:-1] if scale > 1 else part) * scale))
        except ValueError:
            raise click.BadParameter(f"{part!r} is not a size (e.g. 10k, 100k, 1M)", param_hint="--sizes") from None
    if not out or min(out) < 1:
        raise click.BadParameter("give at least one positive size", param_hint="--sizes")
    return out


@click.command("scale")
@click.option("--store", "stores", default="sqlite", show_default=True,
              help="sqlite and/or postgresql, comma-separated.")
@click.option("--sizes", default="10k", show_default=True, help="Memories per run, comma-separated (10k,100k,1M).")
@click.option("--layouts", default="one,many,lme", show_default=True,
              help="one: one scope; many: users of 100 memories; lme: LongMemEval users of ~500 turns.")
@click.option("--lme-users", type=click.IntRange(0), default=100, show_default=True,
              help="LongMemEval users (one haystack each) of the lme layout.")
@click.option("--queries", type=click.IntRange(1), default=200, show_default=True, help="Searches per timed pass.")
@click.option("--passes", type=click.IntRange(1), default=3, show_default=True, help="Timed passes over the queries.")
@click.option("--ack-sample", type=click.IntRange(1), default=500, show_default=True,
              help="New memories written through Memory.add_many, then embedded by the catch-up.")
@click.option("--pool", "pool_size", type=click.IntRange(1), default=20_000, show_default=True,
              help="Real turns (LoCoMo, then LongMemEval) before synthetic ones.")
@click.option("--embedder", envvar="ENGRAM_EMBEDDER", default=None)
@click.option("--cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bench-out") / "embeddings.sqlite", show_default=True, help="Embedding cache file.")
@click.option("--no-cache", is_flag=True, help="Embed the corpus without the cache.")
@click.option("--pg-url", envvar="ENGRAM_BENCH_PG_URL", default=None,
              help="A PostgreSQL server URL (its database is used to create one database per run).")
@click.option("--locomo", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=DEFAULT_DATA / "locomo" / "locomo_dev.json", show_default=True)
@click.option("--lme", "longmemeval", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_DATA / "longmemeval" / "longmemeval_s_dev.json.gz", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"))
@click.option("--seed", type=int, default=0, show_default=True)
def scale(stores: str, sizes: str, layouts: str, lme_users: int, queries: int, passes: int, ack_sample: int,
          pool_size: int, embedder: str | None, cache_path: Path, no_cache: bool, pg_url: str | None, locomo: Path,
          longmemeval: Path, out_dir: Path, seed: int) -> None:
    """Search latency, writes, catch-up, ANN recall, disk and RSS from 10k to 1M memories (issue 13 §7)."""
    from engramdb.bench.scale import default_setup, plan, run_scale
    from engramdb.bench.scale_layouts import LAYOUTS
    from engramdb.bench.scale_run import RunSpec
    from engramdb.bench.scale_targets import STORES

    chosen = [s.strip() for s in stores.split(",") if s.strip()]
    shapes = [s.strip() for s in layouts.split(",") if s.strip()]
    if not chosen or any(s not in STORES for s in chosen):
        raise click.BadParameter(f"comma-separated among {', '.join(STORES)}", param_hint="--store")
    if not shapes or any(s not in LAYOUTS for s in shapes):
        raise click.BadParameter(f"comma-separated among {', '.join(LAYOUTS)}", param_hint="--layouts")
    if "postgresql" in chosen and not pg_url:
        raise click.UsageError("--store postgresql needs --pg-url postgresql://... (or $ENGRAM_BENCH_PG_URL)")
    size_list = _sizes(sizes)
    has_lme = longmemeval.is_file()
    if "lme" in shapes and lme_users and not has_lme:
        raise click.UsageError(f"LongMemEval data not found at {longmemeval} (give --lme PATH or --lme-users 0)")
    setup = default_setup(locomo, longmemeval if has_lme else None, embedder=embedder,
                          cache=None if no_cache else cache_path, pool_size=pool_size, lme_users=lme_users,
                          pg_url=pg_url)
    base = RunSpec("sqlite", "one", 1, queries=queries, passes=passes, ack_sample=ack_sample, seed=seed)
    run_scale(setup, plan(chosen, shapes, size_list, lme_users, base), out_dir)


@click.command("ann")
@click.option("--sizes", default="100k", show_default=True, help="Vectors per library comparison (10k,100k).")
@click.option("--libraries", default="usearch,faiss,hnswlib", show_default=True,
              help="Among usearch, faiss, hnswlib (faiss-cpu and hnswlib: pip install them to compare); "
                   "empty: no comparison.")
@click.option("--queries", type=click.IntRange(1), default=300, show_default=True,
              help="LoCoMo questions asked (of the one:N layout too; lme:U asks each user's own question).")
@click.option("--layouts", default="", show_default=True,
              help="Also whole searches through the store, e.g. one:100000,many:100000,lme:100 (files kept in "
                   "--work).")
@click.option("--passes", type=click.IntRange(1), default=3, show_default=True, help="Timed passes per mode.")
@click.option("--modes", default="before,exact+plan,ann+plan,ann+plan+tier", show_default=True,
              help="before: exact scan, global keyword plan; exact+plan: the scope-first keyword plan; ann+plan: "
                   "with the ANN tier too; ann+plan+tier: and the keyword tier of big scopes.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the --layouts files are made and kept (default: OUT/ann-work).")
@click.option("--embedder", envvar="ENGRAM_EMBEDDER", default=None)
@click.option("--cache", "cache_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("bench-out") / "embeddings.sqlite", show_default=True, help="Embedding cache file.")
@click.option("--locomo", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=DEFAULT_DATA / "locomo" / "locomo_dev.json", show_default=True)
@click.option("--lme", "longmemeval", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_DATA / "longmemeval" / "longmemeval_s_dev.json.gz", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"))
def ann(sizes: str, libraries: str, queries: int, layouts: str, passes: int, modes: str, work: Path | None,
        embedder: str | None, cache_path: Path, locomo: Path, longmemeval: Path, out_dir: Path) -> None:
    """ANN libraries on real vectors, the exact scan's threshold, and the store's search with the ANN tier
    and the scope-first keyword plan (issue 13 §6)."""
    from engramdb.bench.ann import LIBRARIES, run_ann

    chosen = [s.strip() for s in libraries.split(",") if s.strip()]
    if any(s not in LIBRARIES for s in chosen):
        raise click.BadParameter(f"comma-separated among {', '.join(LIBRARIES)}", param_hint="--libraries")
    shapes = [s.strip() for s in layouts.split(",") if s.strip()]
    if any(s.partition(":")[0] not in ("one", "many", "lme") or not s.partition(":")[2].isdigit() for s in shapes):
        raise click.BadParameter("one:N, many:N or lme:USERS, comma-separated", param_hint="--layouts")
    timed = [m.strip() for m in modes.split(",") if m.strip()]
    run_ann(locomo, cache_path, embedder=embedder, sizes=_sizes(sizes) if chosen else [], libraries=chosen,
            n_queries=queries, out_dir=out_dir, layouts=shapes, work=work, passes=passes, modes=timed,
            longmemeval=longmemeval if longmemeval.is_file() else None)
