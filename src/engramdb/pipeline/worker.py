"""A worker: claims jobs from the store's queue, runs their stage, writes the output.

The same loop runs as a thread of ``Memory`` (pipeline/background.py), as an
``engram worker`` process, and inline in ``Memory.flush``. Several workers may
share one database: the store's claim gives each job to one of them, and a job
whose worker died returns to the queue when its lease runs out.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engramdb.core.errors import EngramError, ValidationError
from engramdb.core.jobs import Job
from engramdb.core.models import Scope
from engramdb.core.ports import Store
from engramdb.pipeline.stage import Stage

log = logging.getLogger("engramdb.pipeline")


@dataclass(frozen=True, slots=True)
class IdleTask:
    """Periodic work for an idle worker: ``run(store)`` with the worker's own connection."""

    run: Callable[[Store], object]
    every_s: float


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker claims and retries. ``batch``: memories per claim (their texts are
    embedded together, sorted by length); ``lease_s``: how long a claim holds before another
    worker may take the jobs over (longer than a batch ever takes); a failed batch is retried
    after ``backoff_s`` * 2^(attempt-1) seconds (at most ``backoff_max_s``, with jitter), and
    a job is set aside as failed after ``max_attempts``."""

    batch: int = 64
    lease_s: float = 120.0
    max_attempts: int = 5
    backoff_s: float = 2.0
    backoff_max_s: float = 300.0
    idle_s: float = 0.5  # how long an idle worker sleeps before it looks at the queue again
    #: background threads a Memory runs, each claiming its own batches (they share one model
    #: instance of one compute thread each, so two threads embed two batches at once, and none
    #: waits on a busy core for the other, as onnxruntime's intra-op threads do); 0: none, the
    #: queue is left to ``engram worker`` processes (and to ``flush``, which then works itself)
    threads: int = 2

    def __post_init__(self) -> None:
        if self.batch < 1 or self.max_attempts < 1 or self.threads < 0:
            raise ValidationError("batch and max_attempts must be at least 1, threads at least 0")
        if min(self.lease_s, self.backoff_s, self.backoff_max_s, self.idle_s) <= 0:
            raise ValidationError("lease, backoff and idle times must be positive")

    def backoff(self, attempts: int) -> float:
        base = min(self.backoff_max_s, self.backoff_s * 2.0 ** max(0, attempts - 1))
        return base * (0.75 + random.random() / 2)


class WorkerDied(EngramError):
    """A job's claims kept expiring: the workers that held it died (killed, crashed)."""

    code = "worker_died"


@dataclass(frozen=True, slots=True)
class BatchResult:
    claimed: int = 0
    done: int = 0
    failed: int = 0  # jobs set aside as failed for good by this batch
    retried: int = 0  # jobs sent back to wait for another attempt


class Worker:
    """Runs ``stages`` over the queue of ``store``."""

    def __init__(self, store: Store, stages: Sequence[Stage], options: WorkerOptions | None = None,
                 name: str | None = None) -> None:
        self.store = store
        self.stages = {s.name: s for s in stages}
        self.options = options or WorkerOptions()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"

    def run_batch(self, scope: Scope | None = None) -> BatchResult:
        """Claim one batch (of one stage), run it, write its output or record its failure."""
        opts = self.options
        jobs = self.store.claim(list(self.stages), opts.batch, worker=self.name, lease_s=opts.lease_s, scope=scope)
        if not jobs:
            return BatchResult()
        if jobs[0].attempts > opts.max_attempts:
            # only a claim taken over from dead workers gets here (a failure by exception stops at
            # max_attempts): a record that kills its worker (out of memory, a crash) is set aside
            # instead of killing workers forever
            return self._failed(jobs, WorkerDied(f"its worker died {jobs[0].attempts - 1} times while running it"))
        stage = self.stages[jobs[0].stage]
        started = time.perf_counter()
        try:
            output = stage.run([j.record for j in jobs if j.record is not None])
        except Exception as exc:  # a job runner's boundary: the error is kept in the job
            return self._failed(jobs, exc)
        except BaseException:
            self.store.release(jobs)  # interrupted, not failed: the jobs go back untried
            raise
        try:
            done = self.store.complete(jobs, output, seconds=time.perf_counter() - started)
        except BaseException:
            # nothing was written (the store error stops this worker): the jobs go back now, not
            # when their lease runs out, so that flush or another worker can do them
            self.store.release(jobs)
            raise
        return BatchResult(claimed=len(jobs), done=done)

    def _failed(self, jobs: Sequence[Job], exc: Exception) -> BatchResult:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        failed = self.store.fail_jobs(jobs, error, max_attempts=self.options.max_attempts,
                                      backoff=self.options.backoff)
        log.warning("stage %s failed on %d job(s) (attempt %d): %s", jobs[0].stage, len(jobs),
                    jobs[0].attempts, error)
        return BatchResult(claimed=len(jobs), failed=failed, retried=len(jobs) - failed)

    def drain(self, scope: Scope | None = None, *, deadline: float | None = None,
              stop: threading.Event | None = None, wait: bool = True,
              on_batch: Callable[[BatchResult], None] | None = None) -> BatchResult:
        """Run batches until no job (of ``scope``) is pending or running, the monotonic
        ``deadline`` passes, or ``stop`` is set. Jobs waiting for a retry, or held by another
        worker, are waited for; with ``wait=False`` it stops when nothing is ready."""
        total = BatchResult()
        pause = 0.01
        while not (stop is not None and stop.is_set()):
            if deadline is not None and time.monotonic() >= deadline:
                break
            result = self.run_batch(scope)
            total = BatchResult(total.claimed + result.claimed, total.done + result.done,
                                total.failed + result.failed, total.retried + result.retried)
            if result.claimed:
                pause = 0.01
                if on_batch is not None:
                    on_batch(result)
                continue
            if not wait or not self.store.open_jobs(scope, list(self.stages)):
                break
            nap = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            if stop is not None:
                stop.wait(nap)
            else:
                time.sleep(nap)
            pause = min(pause * 2, 0.5)
        return total

    def run_forever(self, stop: threading.Event, wake: threading.Event | None = None,
                    idle_exit_s: float | None = None,
                    idle_task: Callable[[], IdleTask | None] | None = None) -> BatchResult:
        """Work until ``stop`` is set (or, with ``idle_exit_s``, until idle that long).
        ``wake`` cuts an idle sleep short (set by a writer in the same process). ``idle_task``
        names the periodic work of an idle worker (looked up on every idle turn, so one attached
        after the worker started is picked up); its EngramError is logged and the worker goes on:
        a failed maintenance pass must not stop the embedding of new memories."""
        total = BatchResult()
        idle_since: float | None = None
        last_task = time.monotonic()
        while not stop.is_set():
            result = self.run_batch()
            total = BatchResult(total.claimed + result.claimed, total.done + result.done,
                                total.failed + result.failed, total.retried + result.retried)
            if result.claimed:
                idle_since = None
                continue
            now = time.monotonic()
            idle_since = idle_since or now
            if idle_exit_s is not None and now - idle_since >= idle_exit_s:
                break
            nap = self.options.idle_s
            due = idle_task() if idle_task is not None else None
            if due is not None:
                if now - last_task >= due.every_s:
                    last_task = now
                    try:
                        due.run(self.store)
                    except EngramError as exc:
                        log.warning("the maintenance pass failed: %s: %s", type(exc).__name__, exc)
                    continue
                nap = min(nap, due.every_s - (now - last_task))
            if wake is not None:
                wake.wait(nap)
                wake.clear()
            else:
                stop.wait(nap)
        return total
