"""The background worker thread of a Memory.

One thread, started on the first write (or by ``Memory.start``), runs a
:class:`Worker` on its own store connection. ``stop(drain_s)`` lets it keep
working until the queue is empty or ``drain_s`` has passed, lets the batch in
hand finish, and joins it; what is left stays queued for the next worker.

A thread may also carry an :class:`IdleTask` (the maintenance pass: archiving,
TTL erasure): run on the thread's store connection whenever the queue is empty
and ``every_s`` seconds have passed since the thread started or last ran it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from engramdb.pipeline.worker import IdleTask, Worker

log = logging.getLogger("engramdb.pipeline")

WORKER_NICE = 10  # how much lower the worker thread runs than the process (Linux: per thread)


def _lower_priority() -> None:
    """Searches come first: on Linux a thread has its own nice value, so the worker (and the
    embedding it runs in this thread: a one-thread onnxruntime session computes in the caller)
    yields the CPU to the searching threads whenever they want it."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICE))
    except OSError as exc:  # a sandbox may refuse it; the worker then runs at the process's priority
        log.info("could not lower the worker thread's priority: %s", exc)


class BackgroundWorker:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.idle_task: IdleTask | None = None  # set by its owner (engine/maintenance.py), at any time
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._drain_until: float | None = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None  # what stopped the thread, if it died

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._main, name="engramdb-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, drain_s: float = 0.0) -> None:
        """Stop after draining the queue for up to ``drain_s`` seconds; returns when the thread
        has finished its current batch."""
        self.request_stop(drain_s)
        self.join()

    def request_stop(self, drain_s: float = 0.0) -> None:
        """Ask the thread to stop after draining for up to ``drain_s`` seconds (from now), without
        waiting: several threads then drain side by side."""
        if self._thread is None:
            return
        self._drain_until = time.monotonic() + max(0.0, drain_s)
        self._stop.set()
        self._wake.set()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _main(self) -> None:
        _lower_priority()
        try:
            self.worker.run_forever(self._stop, self._wake, idle_task=lambda: self.idle_task)
            if self._drain_until is not None and time.monotonic() < self._drain_until:
                self.worker.drain(deadline=self._drain_until, wait=False)
        except BaseException as exc:  # the thread's boundary: kept and reported by status()
            self.error = exc
            log.error("the background worker stopped: %s: %s", type(exc).__name__, exc)
