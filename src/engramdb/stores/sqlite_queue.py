"""The job queue methods of the SQLite store (the SQL is in sqlite_jobs.py)."""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Callable, Sequence
from typing import cast

from engramdb.core.jobs import Job, JobInfo, JobSpec, JobState, StageOutput, StageStats
from engramdb.core.models import Scope, utcnow
from engramdb.stores import sqlite_derive as derive
from engramdb.stores import sqlite_jobs as queue
from engramdb.stores.sqlite_conn import Connection
from engramdb.stores.sqlite_sql import ts


def next_seq(db: sqlite3.Connection) -> int:
    """The next embed sequence number (one per transaction that writes vectors)."""
    return int(db.execute("UPDATE meta SET value = value + 1 WHERE key = 'embed_seq' RETURNING value").fetchone()[0])


class QueueMethods:
    """Mixed into SQLiteStore: the queue half of the Store port."""

    conn: Connection

    def enqueue(self, jobs: Sequence[JobSpec]) -> None:
        with self.conn.write() as db:
            queue.enqueue(db, jobs, ts(utcnow()))

    def claim(self, stages: Sequence[str], limit: int, *, worker: str, lease_s: float,
              scope: Scope | None = None) -> builtins.list[Job]:
        with self.conn.write() as db:
            return queue.claim(db, stages, limit, worker=worker, lease_s=lease_s, now=ts(utcnow()), scope=scope)

    def complete(self, jobs: Sequence[Job], output: StageOutput, *, seconds: float) -> int:
        with self.conn.write() as db:
            now = ts(utcnow())
            done, replaced, held = queue.complete(db, jobs, output, now=now, seconds=seconds,
                                                  next_seq=lambda: next_seq(db))
            if held and (output.records or output.supersede or output.merge):
                derive.apply(cast(derive.Writer, self), db, output, held, now)  # SQLiteStore's writers
                replaced = True
            if replaced:
                # rows the vector caches hold changed their vectors: rebuild them
                db.execute("UPDATE meta SET value = value + 1 WHERE key = 'mutation_seq'")
        return done

    def fail_jobs(self, jobs: Sequence[Job], error: str, *, max_attempts: int,
                  backoff: Callable[[int], float]) -> int:
        with self.conn.write() as db:
            return queue.fail(db, jobs, error, now=ts(utcnow()), max_attempts=max_attempts, backoff=backoff)

    def release(self, jobs: Sequence[Job]) -> None:
        with self.conn.write() as db:
            queue.release(db, jobs)

    def open_jobs(self, scope: Scope | None = None, stages: Sequence[str] | None = None,
                  states: Sequence[JobState] = ("pending", "running")) -> int:
        with self.conn.read() as db:
            return queue.open_count(db, scope, stages, states)

    def queue_stats(self, scope: Scope | None = None) -> builtins.list[StageStats]:
        with self.conn.read() as db:
            return queue.stats(db, scope, ts(utcnow()))

    def list_jobs(self, *, state: JobState | None = None, stage: str | None = None,
                  limit: int = 100) -> builtins.list[JobInfo]:
        with self.conn.read() as db:
            return queue.list_jobs(db, state, stage, limit)

    def retry_jobs(self, *, stage: str | None = None, ids: Sequence[int] | None = None) -> int:
        with self.conn.write() as db:
            return queue.retry(db, stage, ids, ts(utcnow()))

