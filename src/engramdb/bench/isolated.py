"""One store per question: each haystack in a fresh SQLite file (or PostgreSQL database, with
``--db``), deleted after its questions.

A shared store would give BM25 the term statistics of every haystack of the run
(about 74k turns on the LongMemEval dev split instead of one haystack's ~490),
which is not what a user's store holds, nor what published LongMemEval numbers
measure. The embedder (and its on-disk cache) is opened once and shared by all
stores, so no text is embedded twice.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from engramdb.bench.baselines import Query
from engramdb.bench.runner import KeyFn, RunConfig, RunOutput, open_embedder, run, store_target
from engramdb.embedders.cache import CachedEmbedder
from engramdb.engine.memory import Memory
from engramdb.formats.base import Batch


@dataclass(frozen=True)
class Unit:
    """What goes into one store: a haystack and the questions asked of it."""

    batches: Sequence[Batch]
    queries: Sequence[Query]


@dataclass
class Isolated:
    out: RunOutput
    completed: int  # units run (fewer than given when the time limit stopped the run)


def run_isolated(config: RunConfig, units: Sequence[Unit], key_of: KeyFn, *,
                 time_limit_s: float | None = None) -> Isolated:
    """Run each unit in its own store; once ``time_limit_s`` has passed, start no new unit (the
    first one always runs)."""
    started = time.monotonic()
    embedder = open_embedder(config)
    work = Path(tempfile.mkdtemp(prefix="engram-bench-"))
    total = RunOutput({m: [] for m in config.methods}, embedder_id=embedder.model_id)
    quiet = replace(config, show_progress=False)
    completed = 0
    try:
        for n, unit in enumerate(units):
            if n and time_limit_s is not None and time.monotonic() - started >= time_limit_s:
                break
            target = store_target(config, work, f"q{n:04d}")
            try:
                mem = Memory(store=target.open(), embedder=embedder, search_params=config.search_params())
                try:
                    part = run(quiet, mem, unit.batches, unit.queries, key_of, bulk=True)
                finally:
                    mem.close()
            finally:
                target.drop()
            _merge(total, part)
            completed += 1
            _progress(completed, len(units), total, started)
    finally:
        if isinstance(embedder, CachedEmbedder):
            embedder.close()
        shutil.rmtree(work, ignore_errors=True)
    return Isolated(total, completed)


def _merge(total: RunOutput, part: RunOutput) -> None:
    for method, answered in part.results.items():
        total.results[method].extend(answered)
    total.embed_query_ms.extend(part.embed_query_ms)
    total.ingest_s += part.ingest_s
    total.embed_s += part.embed_s
    total.search_s += part.search_s
    total.records += part.records
    total.cache = part.cache  # the shared cache's running counts


def _progress(done: int, of: int, total: RunOutput, started: float) -> None:
    cache = total.cache
    hits = f", cache {cache['hits']} hits / {cache['misses']} misses" if cache else ""
    print(f"store {done}/{of}: {total.records} records, {time.monotonic() - started:.0f} s{hits}",
          file=sys.stderr, flush=True)
