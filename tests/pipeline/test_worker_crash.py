"""A worker process killed with SIGKILL mid-batch, again and again, on a SQLite file and on
PostgreSQL: its jobs come back when their lease runs out, every memory ends with exactly one set
of the right vectors, each job is done once, and the database stays sound. ENGRAM_STRESS=1 kills
it 50 times instead of 5."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support.pipeline import DIM, assert_healthy, expected_keys, queue, subprocess_env
from tests.support.probe import Target

from engramdb import Memory
from engramdb.registry import open_store

ROUNDS = 50 if os.environ.get("ENGRAM_STRESS") else 5
PER_ROUND = 80
DELAY_S = 0.002  # per text: a batch of 16 takes ~30 ms, most of it inside the "model"


def _start_worker(path: Path | str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.pipeline_worker", str(path), "--delay", str(DELAY_S),
         "--batch", "16", "--lease", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the worker has opened the database and is about to claim
    assert line.strip() == "working", proc.communicate(timeout=30)
    return proc


def _text(i: int) -> str:
    """Unique texts (equal ones would share vectors); every third has sentence keys too."""
    text = f"item {i} of the crash test mentions word{i} only."
    return text + f" A second sentence about topic{i} follows it here." if i % 3 == 0 else text


@pytest.mark.slow
def test_sigkilled_workers_lose_nothing_and_do_nothing_twice(db_target: Target) -> None:
    path, probe = db_target.db, db_target.probe
    rng = random.Random(20240610)
    store = open_store(path)
    n = ROUNDS * PER_ROUND
    for start in range(0, n, 100):
        queue(store, [_text(i) for i in range(start, min(n, start + 100))], user_id="c", session_id=f"s{start}")
    store.close()
    assert len(probe.job_rows()) == n

    caught_mid_batch = 0
    for _ in range(ROUNDS):
        proc = _start_worker(path)
        time.sleep(rng.uniform(0.02, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err
        caught_mid_batch += probe.running() > 0  # it died holding a claim
    assert caught_mid_batch >= 1, "no kill landed inside a batch: the test proves nothing"
    assert len(probe.job_rows()) > 0  # the kills left work behind

    with Memory(path, embedder=f"hash:{DIM}", close_timeout=0) as mem:
        report = mem.flush(timeout=120)  # waits out the dead workers' leases (1 s)
        assert (report.failed, report.remaining) == (0, 0), report
        records = mem.list(user_id="c", limit=n + 1)
    assert len(records) == n
    assert probe.job_rows() == []
    assert probe.jobs_logged() == n  # each job completed once: a second completion would be logged too
    probe.assert_embedded(records, DIM)  # the right keys, of the right shape (3 rows for two sentences)
    assert probe.vector_rows() == {r.id: 1 for r in records}
    assert sum(1 for r in records if len(expected_keys(r)) == 3) == len(range(0, n, 3))
    assert probe.rows("SELECT count(*), count(DISTINCT id) FROM memories") == [(n, n)]  # one version each
    if not db_target.pg:
        assert_healthy(path)
