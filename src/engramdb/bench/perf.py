"""``engram bench perf``: write and search speed of the embedded default with the background
pipeline (issue 10).

With the configured embedder (default: the packaged local model; one plain instance, no
embedding cache, loaded and warmed up before anything is timed), each of ``repeats`` rounds
measures, on new SQLite files:

- ``add()`` of one message, acknowledged, p50/p95, in background mode (the worker embeds
  meanwhile) and then with ``background=False`` (inline), and the flush after the adds;
- the LoCoMo dev file and a LongMemEval dev subset through ``Memory.add_many`` (the path of
  ``engram import``): acknowledged turns/s, then the flush until everything is
  vector-searchable (embedding catch-up turns/s and vectors/s);
- the embedder alone on the first turns of each file (what the catch-up could reach on this
  machine at that moment);
- search latency in one LoCoMo conversation while the worker catches up on the import,
  against the same queries once idle (perf_search.py);

then, once, search p50/p95 in scopes of ``sizes`` memories (perf_search.py). Every number of
a round is kept; the summary gives min / median / max over the rounds.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from engramdb.bench.common import machine, write_json
from engramdb.bench.longmemeval_data import load as load_longmemeval
from engramdb.bench.perf_search import search_big_scope, search_during_catch_up
from engramdb.bench.perf_table import print_table
from engramdb.bench.perf_write import add_latency, import_run, model_only
from engramdb.core.ports import Embedder, Keys
from engramdb.formats.base import Batch, load_json
from engramdb.formats.detect import parse_file
from engramdb.registry import open_embedder

THREADS_ENV = "ENGRAM_EMBED_THREADS"
MODEL_ONLY_TURNS = {"locomo": 500, "longmemeval": 150}  # the embedder alone, next to each import (~10-20 s)


def run_perf(locomo: Path, *, embedder: str | None, sizes: list[int], single_adds: int, queries: int,
             out_dir: Path, repeats: int = 3, longmemeval: Path | None = None, lme_questions: int = 2,
             worker_threads: int | None = None, seed: int = 0) -> dict[str, Any]:
    console = Console(stderr=True)
    work = Path(tempfile.mkdtemp(prefix="engram-perf-"))
    result: dict[str, Any] = {"machine": machine(), "command": sys.argv, "repeats": repeats,
                              "load_before": _load()}
    batches = parse_file(locomo, fmt="locomo").batches
    samples = load_json(locomo)
    lme = _longmemeval(longmemeval, lme_questions)
    model = open_embedder(embedder)  # one plain instance: no cache, loaded once
    _warm(model)
    worker_model = _with_threads(embedder, worker_threads) if worker_threads else None
    if worker_model is not None:
        _warm(worker_model)
    result["embedder"] = model.model_id
    result["data"] = {"locomo": str(locomo), "longmemeval": str(longmemeval) if lme else None,
                      "longmemeval_questions": lme_questions if lme else 0}
    user, questions = _biggest_conversation(batches, samples)
    rounds: dict[str, list[dict[str, Any]]] = {}
    stored: list[tuple[str, Keys]] = []
    try:
        for r in range(repeats):
            console.print(f"round {r + 1}/{repeats}: add() ...")
            _round = _Round(rounds, work / f"r{r}")
            _round.keep("add_background", add_latency(model, _texts(batches), single_adds, _round.db("addbg"),
                                                      background=True))
            _round.keep("add_inline", add_latency(model, _texts(batches), single_adds, _round.db("addin"),
                                                  background=False))
            console.print(f"round {r + 1}/{repeats}: imports ...")
            _round.keep("model_only_locomo", model_only(model, batches, MODEL_ONLY_TURNS["locomo"]))
            got, keys = import_run(model, batches, _round.db("locomo"), keep_keys=not stored)
            stored = stored or keys
            _round.keep("import_locomo", got)
            if lme:
                _round.keep("model_only_longmemeval", model_only(model, lme, MODEL_ONLY_TURNS["longmemeval"]))
                _round.keep("import_longmemeval", import_run(model, lme, _round.db("lme"))[0])
            console.print(f"round {r + 1}/{repeats}: search while catching up ({user}) ...")
            _round.keep("catch_up_shared", search_during_catch_up(model, batches, user, questions,
                                                                  _round.db("catchup")))
            if worker_model is not None:
                _round.keep(f"catch_up_worker_{worker_threads}_threads", search_during_catch_up(
                    model, batches, user, questions, _round.db("catchup-split"), worker_embedder=worker_model))
            _round.clean()
        result["rounds"] = rounds
        result["summary"] = {name: summarize(runs) for name, runs in rounds.items()}
        result["summary"]["add_speedup_p50"] = _spread(
            [i["p50_ms"] / b["p50_ms"] for b, i in zip(rounds["add_background"], rounds["add_inline"], strict=True)])
        result["search"] = _big_scopes(model, stored, sizes, _questions(samples)[:queries], work, seed, console)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the 100k scope alone is ~330 MB
    result["load_after"] = _load()
    write_json(out_dir, "perf.json", result)
    print_table(result)
    return result


class _Round:
    """One round's measures and files."""

    def __init__(self, rounds: dict[str, list[dict[str, Any]]], folder: Path) -> None:
        self.rounds = rounds
        self.folder = folder
        folder.mkdir(parents=True)

    def db(self, name: str) -> Path:
        return self.folder / f"{name}.db"

    def keep(self, name: str, measure: dict[str, Any]) -> None:
        self.rounds.setdefault(name, []).append({**measure, "load": _load()})

    def clean(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """min / median / max of every number the runs share (nested dicts alike)."""
    out: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [r.get(key) for r in runs]
        if isinstance(first, dict) and all(isinstance(v, dict) for v in values):
            out[key] = summarize([v for v in values if isinstance(v, dict)])
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[key] = _spread([float(v) for v in values if isinstance(v, (int, float))])
    return out


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3),
            "max": round(max(values), 3)}


def _big_scopes(model: Embedder, stored: Sequence[tuple[str, Keys]], sizes: Sequence[int], questions: list[str],
                work: Path, seed: int, console: Console) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for size in sizes:
        console.print(f"search in a scope of {size} memories ...")
        out[str(size)] = search_big_scope(model, stored, size, questions, work / f"scope{size}.db", rng)
        (work / f"scope{size}.db").unlink(missing_ok=True)
    return out


def _biggest_conversation(batches: Sequence[Batch], samples: Any) -> tuple[str, list[str]]:
    """The LoCoMo conversation with most turns (its scope is the user id = sample id) and its
    questions."""
    turns: dict[str, int] = {}
    for b in batches:
        if b.user_id:
            turns[b.user_id] = turns.get(b.user_id, 0) + len(b.messages)
    user = max(sorted(turns), key=lambda u: turns[u])
    questions = [str(q["question"]) for s in samples if s.get("sample_id") == user for q in s["qa"]]
    return user, questions


def _questions(samples: Any) -> list[str]:
    return [str(q["question"]) for s in samples for q in s["qa"]]


def _texts(batches: Sequence[Batch]) -> list[str]:
    return [str(m["content"]) for b in batches for m in b.messages]


def _longmemeval(path: Path | None, questions: int) -> list[Batch]:
    if path is None or questions <= 0:
        return []
    loaded, _ = load_longmemeval(path, questions)
    return [b for q in loaded for b in q.batches]


def _warm(model: Embedder) -> None:
    """First runs of a session allocate; keep that out of every figure."""
    model.embed_documents(["warm up the session.", "a second, longer text to warm up the session with."])
    model.embed_query("warm up?")


def _with_threads(spec: str | None, threads: int) -> Embedder:
    """Another session of the same model with ``threads`` intra-op threads (local model)."""
    with _env(THREADS_ENV, str(threads)):
        return open_embedder(spec)


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _load() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {"at": time.strftime("%H:%M:%S"), "load_1m": round(one, 2), "load_5m": round(five, 2),
            "load_15m": round(fifteen, 2)}
