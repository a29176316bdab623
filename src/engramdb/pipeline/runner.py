"""The pipeline as a Memory sees it: which stages run, who runs them, flush and status."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Sequence

from engramdb.core.errors import ValidationError
from engramdb.core.jobs import (
    EMBED_STAGE,
    JOB_STATES,
    FlushReport,
    JobInfo,
    JobSpec,
    JobState,
    QueueStatus,
)
from engramdb.core.models import MemoryRecord, Scope, utcnow
from engramdb.core.ports import LLM, Embedder, Store
from engramdb.lifecycle.extract import EXTRACT_STAGE, ExtractStage, extracts_from
from engramdb.lifecycle.reconcile import RECONCILE_STAGE, ReconcileStage, reconciles
from engramdb.pipeline.background import BackgroundWorker
from engramdb.pipeline.embed import EmbedStage
from engramdb.pipeline.stage import Stage
from engramdb.pipeline.worker import BatchResult, Worker, WorkerOptions


class Pipeline:
    """Stages over one store, run by a background thread, by ``flush``, or by other processes."""

    def __init__(self, store: Store, embedder: Callable[[], Embedder], *, background: bool,
                 with_keys: bool, options: WorkerOptions | None = None, facts: bool = True,
                 llm: LLM | None = None) -> None:
        self.store = store
        self.background = background
        self.facts = facts  # extract facts from what users say (the rules; an LLM when configured)
        self.llm = llm  # extraction and reconciliation ask it; None: the rules
        self.options = options or WorkerOptions()
        self._embedder = embedder
        self._with_keys = with_keys
        self._threads: list[BackgroundWorker] = []
        self._lock = threading.Lock()

    def stages(self, store: Store) -> list[Stage]:
        """Every stage, whatever this Memory enqueues: a worker finishes any job it finds."""
        return [EmbedStage(self._embedder, store, with_keys=self._with_keys),
                ExtractStage(self.derived_jobs, llm=self.llm), ReconcileStage(store, llm=self.llm)]

    @property
    def stage_names(self) -> list[str]:
        return [EMBED_STAGE, EXTRACT_STAGE, RECONCILE_STAGE]

    def jobs_for(self, records: Sequence[MemoryRecord], *, embed: bool = True,
                 derive: bool = True) -> list[JobSpec]:
        """The jobs a write queues: embedding (unless the write embedded inline), fact
        extraction for what a user says (when facts are on), reconciliation for facts. An
        import (``derive=False``) brings its derived memories with it: vectors only."""
        jobs = []
        for r in records:
            if embed:
                jobs.append(JobSpec(EMBED_STAGE, r.id))
            if not derive:
                continue
            if self.facts and extracts_from(r, llm=self.llm is not None):
                jobs.append(JobSpec(EXTRACT_STAGE, r.id))
            if reconciles(r):
                jobs.append(JobSpec(RECONCILE_STAGE, r.id))
        return jobs

    def derived_jobs(self, records: Sequence[MemoryRecord]) -> list[JobSpec]:
        """What derived records (facts) queue: their vectors and their reconciliation."""
        return [j for r in records for j in (JobSpec(EMBED_STAGE, r.id), JobSpec(RECONCILE_STAGE, r.id))]

    def run_inline(self, jobs: Sequence[JobSpec], scope: Scope | None) -> None:
        """``background=False``: the jobs a write queued are done before the write returns."""
        if jobs:
            Worker(self.store, self.stages(self.store), self.options).drain(scope, deadline=None)

    # ---- the background thread ----------------------------------------------

    @property
    def worker_running(self) -> bool:
        return any(t.running for t in self._threads)

    def start(self) -> None:
        """Start the background worker threads (idempotent); writes call this. A thread that died
        (its error is logged, and shown by status until then) is replaced by a new one."""
        with self._lock:
            alive = []
            for t in self._threads:
                if t.running:
                    alive.append(t)
                elif t.worker.store is not self.store:
                    t.worker.store.close()
            while len(alive) < self.options.threads:
                own = self.store.sibling()
                name = f"{socket.gethostname()}:{os.getpid()}:bg{len(alive)}"
                thread = BackgroundWorker(Worker(own, self.stages(own), self.options, name=name))
                thread.start()
                alive.append(thread)
            self._threads = alive
        for t in alive:
            t.wake()

    def written(self) -> None:
        """A write queued jobs: make sure a worker of this process is on them."""
        if self.background:
            self.start()

    def close(self, drain_s: float) -> None:
        """Stop the threads after draining for up to ``drain_s`` seconds; the rest stays queued."""
        with self._lock:
            threads, self._threads = self._threads, []
        try:
            for t in threads:
                t.request_stop(drain_s)
            for t in threads:
                t.join()
        finally:
            for t in threads:
                if t.worker.store is not self.store:
                    t.worker.store.close()

    # ---- flush, status, jobs --------------------------------------------------

    def flush(self, scope: Scope | None, timeout: float | None,
              on_progress: Callable[[int], None] | None = None) -> FlushReport:
        """Wait until no job (of ``scope``) is pending or running. With a background thread it
        does the work; without one, this thread does. Jobs held by other processes' workers
        are waited for."""
        if timeout is not None and timeout < 0:
            raise ValidationError("timeout must be at least 0 seconds")
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        before = self.store.open_jobs(scope)
        failed_before = self.store.open_jobs(scope, states=("failed",))
        threads = list(self._threads)
        if any(t.running for t in threads):
            pause = 0.005
            while (left := self.store.open_jobs(scope)) and any(t.running for t in threads):
                if on_progress is not None:
                    on_progress(left)
                if deadline is not None and time.monotonic() >= deadline:
                    break
                for t in threads:
                    t.wake()
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
        if not any(t.running for t in threads):  # no thread, or they died while this waited
            report = None if on_progress is None else (lambda _: on_progress(self.store.open_jobs(scope)))
            Worker(self.store, self.stages(self.store), self.options).drain(scope, deadline=deadline,
                                                                            on_batch=report)
        remaining = self.store.open_jobs(scope)
        failed = self.store.open_jobs(scope, states=("failed",)) - failed_before
        return FlushReport(done=max(0, before - remaining - failed), failed=max(0, failed), remaining=remaining,
                           seconds=time.monotonic() - started)

    def work(self, stop: threading.Event, *, options: WorkerOptions | None = None,
             idle_exit_s: float | None = None, name: str | None = None) -> BatchResult:
        """Be a worker in this thread until ``stop`` is set (``engram worker``)."""
        worker = Worker(self.store, self.stages(self.store), options or self.options, name=name)
        return worker.run_forever(stop, idle_exit_s=idle_exit_s)

    def status(self, scope: Scope | None) -> QueueStatus:
        extra: dict[str, object] = {}
        errors = [t.error for t in self._threads if t.error is not None]
        if errors:
            extra["worker_error"] = f"{type(errors[0]).__name__}: {errors[0]}"
        return QueueStatus(tuple(self.store.queue_stats(scope)), utcnow(), self.background, self.worker_running,
                           extra)

    def jobs(self, state: str | None, stage: str | None, limit: int) -> list[JobInfo]:
        return self.store.list_jobs(state=_state(state), stage=stage, limit=limit)

    def retry(self, stage: str | None, ids: Sequence[int] | None) -> int:
        n = self.store.retry_jobs(stage=stage, ids=ids)
        if n:
            self.written()
        return n

    def unembedded(self, scope: Scope) -> int:
        """Memories of ``scope`` whose vectors are still to come (pending, running or failed)."""
        return self.store.open_jobs(scope, [EMBED_STAGE], JOB_STATES)


def _state(value: str | None) -> JobState | None:
    if value is None:
        return None
    for state in JOB_STATES:
        if value == state:
            return state
    raise ValidationError(f"unknown job state {value!r}; use one of {', '.join(JOB_STATES)}")
