"""A Memory's worker thread that dies (here: its connection finds the disk full, a real SQLite
error): flush does not wait for it forever, status says why it stopped, the next write starts a
new one, and nothing queued is lost."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.support.pipeline import SlowEmbedder, job_rows, stored_keys

from engramdb import Memory
from engramdb.core.jobs import FlushReport
from engramdb.pipeline.worker import WorkerOptions
from engramdb.stores.sqlite import SQLiteStore


def _fill_disk_of(store: SQLiteStore) -> None:
    """From now on this connection cannot grow the file: the next write that needs a page fails
    with SQLITE_FULL ("database or disk is full"), as on a full disk."""
    with store.conn.write() as db:  # under the connection's lock, between the thread's transactions
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    store.conn.db.execute(f"PRAGMA max_page_count = {pages}")


def test_flush_outlives_a_worker_thread_that_dies_and_a_write_starts_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    with Memory(path, embedder=SlowEmbedder(0.005), close_timeout=0, worker=WorkerOptions(threads=1)) as mem:
        mem.start()
        [thread] = mem.pipeline._threads
        own = thread.worker.store
        assert isinstance(own, SQLiteStore) and own is not mem.store
        records = mem.add([f"line {i} of a long chat about sailing" for i in range(150)], user_id="u")
        _fill_disk_of(own)  # once the thread has claimed its first batch: it cannot store it

        reports: list[FlushReport] = []
        flusher = threading.Thread(target=lambda: reports.append(mem.flush()), daemon=True)
        flusher.start()  # the thread is embedding the first batch (64 x 5 ms), then cannot write it
        flusher.join(30)
        assert not flusher.is_alive(), "flush() kept waiting for a worker thread that had died"
        [report] = reports
        assert (report.done, report.failed, report.remaining) == (150, 0, 0)
        assert not mem.pipeline.worker_running
        assert "database or disk is full" in mem.status().to_dict()["worker_error"]
        assert job_rows(path) == []
        assert all(stored_keys(path, r.id)[0] is not None for r in records)

        [later] = mem.add("written after the worker thread died", user_id="u")
        assert mem.pipeline.worker_running  # a new thread, on a new connection
        assert mem.flush(timeout=20).remaining == 0
        assert stored_keys(path, later.id)[0] is not None
        assert "worker_error" not in mem.status().to_dict()
