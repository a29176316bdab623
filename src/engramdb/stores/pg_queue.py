"""The job queue methods of the PostgreSQL store (the SQL is in pg_jobs.py).

Every time of a job (enqueued, due, leased until, logged) is the database server's clock, so
workers on hosts with skewed clocks judge leases alike. Claims run outside the writers' lock
(``write(serialize=False)``): they touch only job rows, take them with SKIP LOCKED and never
wait, so any number of workers on any number of connections claim side by side. Completing a
batch writes records and vectors and takes the lock as every other write does.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import cast

from engramdb.core.jobs import Job, JobInfo, JobSpec, JobState, StageOutput, StageStats
from engramdb.core.models import Scope, utcnow
from engramdb.stores import pg_derive as derive
from engramdb.stores import pg_jobs as queue
from engramdb.stores import pg_records as rows
from engramdb.stores.pg_conn import Connection, Cursor
from engramdb.stores.sql_common import ts


class PgQueueMethods:
    """Mixed into PostgresStore: the queue half of the Store port."""

    conn: Connection

    # hooks of the record side's write transactions (the queue keeps the database's time, not ``now``)
    def _enqueue_jobs(self, cur: Cursor, jobs: Sequence[JobSpec], now: float) -> None:
        if jobs:
            queue.enqueue(cur, jobs, queue.db_now(cur))

    def _forget_jobs(self, cur: Cursor, memory_ids: Sequence[str]) -> None:
        queue.forget(cur, memory_ids)

    def enqueue(self, jobs: Sequence[JobSpec]) -> None:
        with self.conn.write() as cur:
            queue.enqueue(cur, jobs, queue.db_now(cur))

    def claim(self, stages: Sequence[str], limit: int, *, worker: str, lease_s: float,
              scope: Scope | None = None) -> builtins.list[Job]:
        with self.conn.write(serialize=False) as cur:
            return queue.claim(cur, stages, limit, worker=worker, lease_s=lease_s, now=queue.db_now(cur),
                               scope=scope)

    def complete(self, jobs: Sequence[Job], output: StageOutput, *, seconds: float) -> int:
        with self.conn.write() as cur:
            done, replaced, held = queue.complete(cur, jobs, output, now=queue.db_now(cur), seconds=seconds)
            if held and (output.records or output.supersede or output.merge):
                # derived records keep the writers' (system) time, as every record does
                derive.apply(cast(derive.Writer, self), cur, output, held, ts(utcnow()))
                replaced = True
            if replaced:
                rows.bump(cur)  # rows the vector caches hold changed their vectors: rebuild them
        return done

    def fail_jobs(self, jobs: Sequence[Job], error: str, *, max_attempts: int,
                  backoff: Callable[[int], float]) -> int:
        with self.conn.write() as cur:
            return queue.fail(cur, jobs, error, now=queue.db_now(cur), max_attempts=max_attempts, backoff=backoff)

    def release(self, jobs: Sequence[Job]) -> None:
        with self.conn.write() as cur:
            queue.release(cur, jobs)

    def open_jobs(self, scope: Scope | None = None, stages: Sequence[str] | None = None,
                  states: Sequence[JobState] = ("pending", "running")) -> int:
        with self.conn.read() as cur:
            return queue.open_count(cur, scope, stages, states)

    def queue_stats(self, scope: Scope | None = None) -> builtins.list[StageStats]:
        with self.conn.read() as cur:
            return queue.stats(cur, scope, queue.db_now(cur))

    def list_jobs(self, *, state: JobState | None = None, stage: str | None = None,
                  limit: int = 100) -> builtins.list[JobInfo]:
        with self.conn.read() as cur:
            return queue.list_jobs(cur, state, stage, limit)

    def retry_jobs(self, *, stage: str | None = None, ids: Sequence[int] | None = None) -> int:
        with self.conn.write() as cur:
            return queue.retry(cur, stage, ids, queue.db_now(cur))
