"""Four writer processes (each with its own background worker thread) and four worker processes
on one file: every memory is embedded exactly once, and nobody sees "database is locked"."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.support.pipeline import (
    DIM,
    assert_healthy,
    expected_keys,
    job_rows,
    jobs_logged,
    logged_texts,
    stored_keys,
    subprocess_env,
)

from engramdb import Memory

WRITERS, WORKERS, PER_WRITER = 4, 4, 150

WRITER = r"""
import sys, time
from engramdb import Memory
from tests.support.pipeline import SlowEmbedder
path, w, n, start_at, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
m = Memory(path, embedder=SlowEmbedder(0.001, log))
while time.time() < start_at:  # every process begins together, so they really contend
    time.sleep(0.0005)
for i in range(n):
    m.add(f"writer {w} wrote line {i} about subject w{w}x{i}", user_id=f"user{w % 2}")
m.close()  # drains what its thread has not done yet (close_timeout 10 s)
print("done", w)
"""


@pytest.mark.slow
def test_four_writers_and_four_workers_embed_everything_once(tmp_path: Path) -> None:
    path = tmp_path / "many.db"
    Memory(path, embedder=f"hash:{DIM}").close()  # migrate once up front
    env = subprocess_env()
    start_at = time.time() + 2.0
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w), str(PER_WRITER), str(start_at),
                                 str(tmp_path / f"writer{w}.log")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for w in range(WRITERS)]
    workers = [subprocess.Popen([sys.executable, "-m", "tests.support.pipeline_worker", str(path),
                                 "--delay", "0.001", "--batch", "8", "--idle-exit", "3",
                                 "--log", str(tmp_path / f"worker{w}.log")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for w in range(WORKERS)]
    for proc in writers + workers:
        out, err = proc.communicate(timeout=180)
        assert "locked" not in err.lower() and "busy" not in err.lower(), err
        assert proc.returncode == 0, err
        assert err.strip() == "", err  # no warning, no failed batch, no traceback
        assert out.split()[0] in ("done", "working"), out

    n = WRITERS * PER_WRITER
    expected = {f"writer {w} wrote line {i} about subject w{w}x{i}" for w in range(WRITERS) for i in range(PER_WRITER)}
    embedded = logged_texts(tmp_path)
    assert sorted(embedded) == sorted(expected)  # each text embedded by exactly one process, once
    busy = [f.name for f in tmp_path.glob("*.log") if f.stat().st_size]
    assert len(busy) >= 2, busy  # the work really was shared
    assert job_rows(path) == [] and jobs_logged(path) == n
    with Memory(path, embedder=f"hash:{DIM}", background=False) as mem:
        records = [r for u in ("user0", "user1") for r in mem.list(user_id=u, limit=n)]
    assert sorted(r.content for r in records) == sorted(expected)
    for rec in records:
        keys, model = stored_keys(path, rec.id)
        assert model == f"hash-{DIM}" and keys is not None
        np.testing.assert_allclose(keys, expected_keys(rec), atol=1e-6)
    assert_healthy(path)
