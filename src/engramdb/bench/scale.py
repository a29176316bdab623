"""``engram bench scale``: write throughput, catch-up, index build, search latency, ANN recall,
disk bytes and peak RSS from 10k to 1M memories, per store and layout (issue 13 §7).

Each (store, layout, size) runs in a process of its own (so its peak RSS is its own) on a
fresh database, and leaves ``bench-out/scale/runs/<store>-<layout>-<size>.json``. The summary
(``bench-out/scale/scale.json``, the table and the log-log plot ``scale.png``) is made from
every run file in that folder, so a long run (1M) started later adds to it. What each phase
measures and includes is in scale_run.py; the data in scale_corpus.py and scale_layouts.py.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from engramdb.bench.common import machine
from engramdb.bench.scale_report import summarize
from engramdb.bench.scale_run import RunSpec, run_one
from engramdb.bench.scale_targets import Target, postgres_target, sqlite_target

PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "ENGRAM_EMBED_THREADS": "1"}


@dataclass(frozen=True)
class Setup:
    """What every run of one invocation shares."""

    locomo: Path
    longmemeval: Path | None
    embedder: str | None
    cache: Path | None
    pool_size: int
    lme_users: int
    pg_url: str | None
    work: Path
    show_progress: bool


def run_scale(setup: Setup, specs: list[RunSpec], out_dir: Path, *, isolate: bool = True) -> dict[str, Any]:
    """Run every spec (each in a child process with ``isolate``), then summarise the folder."""
    console = Console(stderr=True)
    runs_dir = out_dir / "scale" / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        console.print(f"[bold]scale[/]: {spec.store}, layout {spec.layout}, size {spec.size:,} ...")
        path = runs_dir / f"{spec.label}.json"
        if isolate:
            _in_child(setup, spec, path)
        else:
            _write(path, run_spec(setup, spec))
    if setup.work.is_dir() and not any(setup.work.iterdir()):
        setup.work.rmdir()
    return summarize(out_dir / "scale", machine(), sys.argv, Console(width=None if sys.stdout.isatty() else 170))


def run_spec(setup: Setup, spec: RunSpec) -> dict[str, Any]:
    """One run in this process: the corpus, the models, a fresh database, the measures."""
    from engramdb.bench.scale_corpus import load_corpus, open_models

    for name, value in PINNED.items():
        os.environ.setdefault(name, value)
    documents, model = open_models(setup.embedder, setup.cache)
    with _Ticker(setup.show_progress) as tick:
        corpus = load_corpus(setup.locomo, setup.longmemeval, documents, pool_size=setup.pool_size,
                             lme_users=max(setup.lme_users, spec.size if spec.layout == "lme" else 0),
                             on_progress=lambda done, total: tick("corpus vectors", done, total))
        target = _target(setup, spec)
        result = run_one(spec, target, corpus, documents, model, tick)
    result["corpus"] = corpus.info
    result["setup"] = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(setup).items() if k != "pg_url"}
    result["machine"] = machine()
    return result


def _target(setup: Setup, spec: RunSpec) -> Target:
    label = f"engram_scale_{spec.layout}_{spec.size}"
    if spec.store == "sqlite":
        return sqlite_target(setup.work, label)
    if setup.pg_url is None:
        raise RuntimeError("the postgresql store needs a server URL (--pg-url)")
    return postgres_target(setup.pg_url, label)


def _in_child(setup: Setup, spec: RunSpec, path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_child, args=(setup, spec, str(path)))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"the run {spec.label} failed (exit code {child.exitcode}); see the messages above")


def _child(setup: Setup, spec: RunSpec, path: str) -> None:
    _write(Path(path), run_spec(setup, spec))


def _write(path: Path, result: dict[str, Any]) -> None:
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")


def default_setup(locomo: Path, longmemeval: Path | None, *, embedder: str | None, cache: Path | None,
                  pool_size: int, lme_users: int, pg_url: str | None, work: Path | None = None) -> Setup:
    return Setup(locomo, longmemeval, embedder, cache, pool_size, lme_users, pg_url,
                 work or Path(tempfile.mkdtemp(prefix="engram-scale-")), sys.stderr.isatty())


def plan(stores: list[str], layouts: list[str], sizes: list[int], lme_users: int, base: RunSpec) -> list[RunSpec]:
    """Smallest sizes first, so a quick answer comes before a long one."""
    specs = [replace(base, store=s, layout=layout, size=n) for n in sorted(sizes) for s in stores
             for layout in layouts if layout != "lme"]
    if "lme" in layouts and lme_users > 0:
        specs += [replace(base, store=s, layout="lme", size=lme_users) for s in stores]
    return specs


class _Ticker:
    """A progress bar per phase on stderr (a terminal only); call it with (phase, done, total)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started: dict[str, float] = {}
        self.finished: set[str] = set()
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), disable=not enabled)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _Ticker:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:  # a log: one line when a phase starts and one when it ends
            if phase not in self.started:
                self.started[phase] = time.monotonic()
                print(f"  {phase} ...", file=sys.stderr, flush=True)
            if done >= total and phase not in self.finished:
                self.finished.add(phase)
                print(f"  {phase}: {done:,} in {time.monotonic() - self.started[phase]:.1f} s", file=sys.stderr,
                      flush=True)
            return
        task = self.tasks.get(phase)
        if task is None:
            task = self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(task, completed=done, total=total)
