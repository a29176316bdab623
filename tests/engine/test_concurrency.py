"""Several processes writing one SQLite file or one PostgreSQL database, and a writer killed with
SIGKILL: nothing lost, nothing duplicated, nothing corrupt."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.support.probe import Target

from engramdb import Memory, NotFoundError

WRITER = r"""
import sys, time
from engramdb import Memory
path, worker, n, start_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
open_late = sys.argv[5:] == ["open-late"]
if not open_late:
    m = Memory(path, embedder="hash")
while time.time() < start_at:  # all workers begin together, so they really contend
    time.sleep(0.0005)
if open_late:
    m = Memory(path, embedder="hash")
for i in range(n):
    m.add(f"worker {worker} item {i}", user_id="shared", metadata={"w": worker, "i": i})
m.close()
print("done", worker)
"""

ACKER = r"""
import sys
from engramdb import Memory
m = Memory(sys.argv[1], embedder="hash")
i = 0
while True:
    [r] = m.add(f"crash test item {i} " + "padding words " * 40, user_id="c", metadata={"i": i})
    sys.stdout.write(r.id + "\n")
    sys.stdout.flush()
    i += 1
"""

WORKERS, PER_WORKER = 4, 250


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.slow
def test_four_processes_lose_and_duplicate_nothing(db_target: Target) -> None:
    db = db_target.db
    Memory(db, embedder="hash", background=False).close()  # migrate once up front; opening concurrently is tested below
    start_at = time.time() + 1.5
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(w), str(PER_WORKER), str(start_at)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        for w in range(WORKERS)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert "locked" not in err.lower(), err
        assert p.returncode == 0, err
        assert out.startswith("done")

    expected = {f"worker {w} item {i}" for w in range(WORKERS) for i in range(PER_WORKER)}
    with Memory(db, embedder="hash", background=False) as m:
        assert m.flush(timeout=60).remaining == 0  # what a writer's close left queued
        assert m.count(user_id="shared") == WORKERS * PER_WORKER
        records = m.list(user_id="shared", limit=10 * WORKERS * PER_WORKER)
        got = [r.content for r in records]
        assert len(got) == len(set(got)) == WORKERS * PER_WORKER  # 0 duplicated
        assert set(got) == expected  # 0 lost
        assert len({r.id for r in records}) == WORKERS * PER_WORKER
    assert db_target.probe.value("SELECT count(*) FROM history WHERE action = 'add'") == WORKERS * PER_WORKER
    assert set(db_target.probe.vector_rows().values()) == {1}  # each memory embedded once
    assert len(db_target.probe.vector_rows()) == WORKERS * PER_WORKER
    if not db_target.pg:
        assert db_target.probe.value("PRAGMA integrity_check") == "ok"


@pytest.mark.slow
def test_processes_opening_a_new_file_together_migrate_once(tmp_path):
    db = tmp_path / "fresh.db"
    start_at = time.time() + 1.5
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(w), "5", str(start_at), "open-late"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        for w in range(WORKERS)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    with Memory(db, embedder="hash", background=False) as m:
        assert m.count(user_id="shared") == WORKERS * 5


@pytest.mark.slow
@pytest.mark.parametrize("acks_before_kill", [25, 120])
def test_sigkill_loses_no_acknowledged_write(db_target: Target, acks_before_kill: int) -> None:
    db = db_target.db
    proc = subprocess.Popen([sys.executable, "-c", ACKER, str(db)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    acked: list[str] = []
    try:
        assert proc.stdout is not None
        while len(acked) < acks_before_kill:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"writer died early: {proc.stderr.read() if proc.stderr else ''}")
            acked.append(line.strip())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
    acked += [x for x in rest.split("\n") if len(x) == 26]  # complete lines printed before the kill
    assert proc.returncode == -signal.SIGKILL

    if not db_target.pg:
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.execute("INSERT INTO memories_fts (memories_fts) VALUES ('integrity-check')")  # raises if corrupt
        con.close()

    with Memory(db, embedder="hash", background=False) as m:
        for memory_id in acked:
            try:
                m.get(memory_id, user_id="c")
            except NotFoundError:  # pragma: no cover - this is the failure being tested for
                pytest.fail(f"acknowledged write {memory_id} was lost")
        assert m.count(user_id="c") >= len(acked)
        assert m.search("crash test item 3", user_id="c", k=3).hits  # indexes usable after recovery
        m.add("life goes on after the crash", user_id="c")


def test_threads_share_one_memory(mem):
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(40):
                mem.add(f"thread {t} note {i}", user_id="t")
                if i % 10 == 0:
                    mem.search(f"thread {t}", user_id="t", k=3)
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert mem.count(user_id="t") == 240
    assert len({r.content for r in mem.list(user_id="t", limit=1000)}) == 240
