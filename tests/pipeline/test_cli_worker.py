"""``engram worker`` as a real process, on a SQLite file and on PostgreSQL: it works the queue,
stops on SIGTERM after the batch in hand, exits when idle with --idle-exit, and a SIGKILLed one
is replaced without loss (its jobs come back after the lease and are done once)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.pipeline import DIM, assert_healthy, queue, subprocess_env
from tests.support.probe import Target

from engramdb import Memory
from engramdb.registry import open_store

ENGRAM = [sys.executable, "-c", "from engramdb.cli.main import main; main()"]


def _worker(path: Path | str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*ENGRAM, "worker", "--db", str(path), "--embedder", f"hash:{DIM}", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())


def _queued(db: Path | str, n: int) -> None:
    store = open_store(db)
    for start in range(0, n, 250):
        queue(store, [f"queued item {i} names token{i}" for i in range(start, min(n, start + 250))], user_id="u")
    store.close()


def _wait_until(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _assert_all_embedded(target: Target, n: int) -> None:
    probe = target.probe
    assert probe.job_rows() == [] and probe.jobs_logged() == n  # each job completed once
    with Memory(target.db, embedder=f"hash:{DIM}", background=False) as mem:
        records = mem.list(user_id="u", limit=n + 1)
    assert len(records) == n
    assert probe.vector_rows() == {r.id: 1 for r in records}  # one set of vectors each
    probe.assert_embedded(records, DIM)
    if not target.pg:
        assert_healthy(target.db)


def test_engram_worker_works_the_queue_and_stops_on_sigterm(db_target: Target) -> None:
    _queued(db_target.db, 300)
    proc = _worker(db_target.db, "--batch", "16")
    _wait_until(lambda: not db_target.probe.job_rows())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "300 jobs done, 0 failed" in err
    _assert_all_embedded(db_target, 300)


def test_engram_worker_exits_when_idle(db_target: Target) -> None:
    _queued(db_target.db, 40)
    proc = _worker(db_target.db, "--idle-exit", "0.3")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "40 jobs done" in err
    _assert_all_embedded(db_target, 40)


@pytest.mark.slow
def test_a_sigkilled_engram_worker_is_replaced_without_loss(db_target: Target) -> None:
    n, probe = 800, db_target.probe
    _queued(db_target.db, n)
    for _ in range(2):
        before = len(probe.job_rows())
        proc = _worker(db_target.db, "--batch", "16", "--lease", "1")
        _wait_until(lambda: len(probe.job_rows()) < before or proc.poll() is not None)  # noqa: B023
        os.kill(proc.pid, signal.SIGKILL)  # as soon as it has done something
        proc.communicate(timeout=30)
    assert 0 < len(probe.job_rows()) < n
    last = _worker(db_target.db, "--batch", "16", "--lease", "1", "--idle-exit", "1.5")
    _, err = last.communicate(timeout=120)
    assert last.returncode == 0, err
    _assert_all_embedded(db_target, n)
