"""Four writer processes (each with its own background worker thread) and four worker processes
(two of them ``engram worker``) on one SQLite file or one PostgreSQL database: no write is lost
or duplicated, every memory is embedded exactly once, and nobody sees "database is locked"."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support.pipeline import DIM, assert_healthy, logged_texts, subprocess_env
from tests.support.probe import Target

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


def _worker(db: str, w: int, log: Path) -> list[str]:
    """Half the workers are ``engram worker`` itself (the hash embedder: the same vectors, no log),
    half run the same loop over the logging embedder (tests/support/pipeline_worker.py)."""
    if w % 2:
        return [sys.executable, "-c", "from engramdb.cli.main import main; main()", "worker", "--db", db,
                "--embedder", f"hash:{DIM}", "--batch", "8", "--idle-exit", "3"]
    return [sys.executable, "-m", "tests.support.pipeline_worker", db, "--delay", "0.001", "--batch", "8",
            "--idle-exit", "3", "--log", str(log)]


@pytest.mark.slow
def test_four_writers_and_four_workers_embed_everything_once(db_target: Target, tmp_path: Path) -> None:
    db, probe = str(db_target.db), db_target.probe
    Memory(db, embedder=f"hash:{DIM}").close()  # migrate once up front
    env = subprocess_env()
    start_at = time.time() + 2.0
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, db, str(w), str(PER_WRITER), str(start_at),
                                 str(tmp_path / f"writer{w}.log")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for w in range(WRITERS)]
    workers = [subprocess.Popen(_worker(db, w, tmp_path / f"worker{w}.log"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
               for w in range(WORKERS)]
    for proc in writers + workers:
        out, err = proc.communicate(timeout=300)
        assert "locked" not in err.lower() and "busy" not in err.lower(), err
        assert proc.returncode == 0, err
        if proc in workers and "engram worker" in err:
            assert " 0 failed, 0 to retry" in err, err
            continue
        assert err.strip() == "", err  # no warning, no failed batch, no traceback
        assert out.split()[0] in ("done", "working"), out

    n = WRITERS * PER_WRITER
    expected = {f"writer {w} wrote line {i} about subject w{w}x{i}" for w in range(WRITERS) for i in range(PER_WRITER)}
    embedded = logged_texts(tmp_path)
    assert len(embedded) == len(set(embedded)) and set(embedded) <= expected  # no text embedded twice
    busy = [f.name for f in tmp_path.glob("*.log") if f.stat().st_size]
    assert len(busy) >= 2, busy  # the work really was shared
    assert probe.job_rows() == [] and probe.jobs_logged() == n  # each job completed once
    with Memory(db, embedder=f"hash:{DIM}", background=False) as mem:
        records = [r for u in ("user0", "user1") for r in mem.list(user_id=u, limit=n)]
    assert sorted(r.content for r in records) == sorted(expected)  # none lost, none twice
    assert len({r.id for r in records}) == n
    assert probe.value("SELECT count(*) FROM history WHERE action = 'add'") == n
    assert probe.vector_rows() == {r.id: 1 for r in records}  # one set of vectors each
    probe.assert_embedded(records, DIM)
    if not db_target.pg:
        assert_healthy(db)
