"""``engram worker`` as a real process: it works the queue, stops on SIGTERM after the batch in
hand, exits when idle with --idle-exit, and a SIGKILLed one is replaced without loss."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.pipeline import DIM, assert_embedded, assert_healthy, job_rows, jobs_logged, queue, subprocess_env

from engramdb import Memory
from engramdb.stores.sqlite import SQLiteStore

ENGRAM = [sys.executable, "-c", "from engramdb.cli.main import main; main()"]


def _worker(path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*ENGRAM, "worker", "--db", str(path), "--embedder", f"hash:{DIM}", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())


def _queued(path: Path, n: int) -> None:
    store = SQLiteStore(path)
    for start in range(0, n, 250):
        queue(store, [f"queued item {i} names token{i}" for i in range(start, min(n, start + 250))], user_id="u")
    store.close()


def _wait_until(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _assert_all_embedded(path: Path, n: int) -> None:
    assert job_rows(path) == [] and jobs_logged(path) == n
    with Memory(path, embedder=f"hash:{DIM}", background=False) as mem:
        records = mem.list(user_id="u", limit=n + 1)
    assert len(records) == n
    assert_embedded(path, records)
    assert_healthy(path)


def test_engram_worker_works_the_queue_and_stops_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _queued(path, 300)
    proc = _worker(path, "--batch", "16")
    _wait_until(lambda: not job_rows(path))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "300 jobs done, 0 failed" in err
    _assert_all_embedded(path, 300)


def test_engram_worker_exits_when_idle(tmp_path: Path) -> None:
    path = tmp_path / "idle.db"
    _queued(path, 40)
    proc = _worker(path, "--idle-exit", "0.3")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "40 jobs done" in err
    _assert_all_embedded(path, 40)


@pytest.mark.slow
def test_a_sigkilled_engram_worker_is_replaced_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    n = 800
    _queued(path, n)
    for _ in range(2):
        before = len(job_rows(path))
        proc = _worker(path, "--batch", "16", "--lease", "1")
        _wait_until(lambda: len(job_rows(path)) < before or proc.poll() is not None)  # noqa: B023
        os.kill(proc.pid, signal.SIGKILL)  # as soon as it has done something
        proc.communicate(timeout=30)
    assert 0 < len(job_rows(path)) < n
    last = _worker(path, "--batch", "16", "--lease", "1", "--idle-exit", "1.5")
    _, err = last.communicate(timeout=120)
    assert last.returncode == 0, err
    _assert_all_embedded(path, n)
