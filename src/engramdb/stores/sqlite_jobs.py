"""The job queue of the SQLite store (table ``jobs``, migration 0005).

Every function runs inside a transaction the caller holds (``Connection.write`` /
``read``). A claim is an UPDATE inside BEGIN IMMEDIATE, so two workers (threads or
processes) never claim the same job; PostgreSQL does the same with
``FOR UPDATE SKIP LOCKED``. A job is done once: its row is deleted in the
transaction that writes its output, and only by the holder of its claim token.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime

from engramdb.core.jobs import Job, JobInfo, JobSpec, JobState, StageOutput, StageStats
from engramdb.core.models import Scope
from engramdb.stores.jobs_common import LOG_KEEP_S, failure_plan, stage_stats
from engramdb.stores.sqlite_sql import COLUMNS, dt, record_from_row, scope_clause
from engramdb.stores.vector_index import to_blob

CHUNK = 500
_READY = "((j.state = 'pending' AND j.run_after <= ?) OR (j.state = 'running' AND j.lease_until < ?))"


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _in_scope(scope: Scope | None) -> tuple[str, list[object]]:
    """Jobs of memories inside ``scope`` (every job for None)."""
    if scope is None:
        return "1", []
    where, params = scope_clause(scope)
    # a list subquery, built once per statement: O(scope + queue). (A correlated EXISTS was
    # planned as a scan of the scope's rows for every job: 119 ms per search in a LoCoMo
    # conversation while 2,760 jobs were queued, against 0.3 ms for this form.)
    return f"j.memory_id IN (SELECT m.id FROM memories m WHERE {where})", list(params)


def enqueue(db: sqlite3.Connection, jobs: Sequence[JobSpec], now: float) -> None:
    """Queue jobs; a job already there (pending, running or failed) starts over, so a
    worker still holding the old claim cannot complete it."""
    db.executemany(
        "INSERT INTO jobs (stage, memory_id, state, attempts, enqueued_at, run_after) "
        "VALUES (?, ?, 'pending', 0, ?, ?) ON CONFLICT (stage, memory_id) DO UPDATE SET "
        "state = 'pending', attempts = 0, enqueued_at = excluded.enqueued_at, run_after = excluded.run_after, "
        "lease_until = NULL, token = NULL, worker = NULL, error = NULL",
        [(j.stage, j.memory_id, now, now) for j in jobs],
    )


def claim(db: sqlite3.Connection, stages: Sequence[str], limit: int, *, worker: str, lease_s: float,
          now: float, scope: Scope | None = None) -> list[Job]:
    """Claim up to ``limit`` ready jobs of one stage, oldest first. A job that failed before
    is claimed alone, so one bad record cannot fail a whole batch again."""
    if not stages or limit <= 0:
        return []
    where, params = _in_scope(scope)
    base = f"FROM jobs j WHERE j.stage IN ({_marks(len(stages))}) AND {_READY} AND {where}"
    first = db.execute(f"SELECT j.stage, j.attempts {base} ORDER BY j.id LIMIT 1",
                       [*stages, now, now, *params]).fetchone()
    if first is None:
        return []
    stage, attempts = first
    if attempts > 0:
        rows = db.execute(f"SELECT j.id, j.memory_id {base} AND j.stage = ? ORDER BY j.id LIMIT 1",
                          [*stages, now, now, *params, stage]).fetchall()
    else:
        rows = db.execute(f"SELECT j.id, j.memory_id {base} AND j.stage = ? AND j.attempts = 0 "
                          "ORDER BY j.id LIMIT ?", [*stages, now, now, *params, stage, limit]).fetchall()
    token = secrets.token_hex(8)
    ids = [r[0] for r in rows]
    db.execute(f"UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = ?, token = ?, "
               f"worker = ? WHERE id IN ({_marks(len(ids))})", [now + lease_s, token, worker, *ids])
    memory_ids = [r[1] for r in rows]
    current = {}
    for start in range(0, len(memory_ids), CHUNK):
        chunk = memory_ids[start:start + CHUNK]
        for row in db.execute(f"SELECT {COLUMNS} FROM memories m WHERE m.id IN ({_marks(len(chunk))}) "
                              "AND m.sys_to IS NULL", chunk):
            rec = record_from_row(row)
            current[rec.id] = rec
    return [Job(jid, stage, mid, attempts + 1, token, current.get(mid)) for jid, mid in rows]


def held(db: sqlite3.Connection, jobs: Sequence[Job]) -> list[Job]:
    """The jobs still held by their claim (not re-queued by a new write, not re-claimed)."""
    if not jobs:
        return []
    tokens = {j.id: j.token for j in jobs}
    rows = db.execute(f"SELECT id, token FROM jobs WHERE id IN ({_marks(len(tokens))}) AND state = 'running'",
                      list(tokens)).fetchall()
    mine = {jid for jid, token in rows if tokens.get(jid) == token}
    return [j for j in jobs if j.id in mine]


def complete(db: sqlite3.Connection, jobs: Sequence[Job], output: StageOutput, *, now: float,
             seconds: float, next_seq: Callable[[], int]) -> tuple[int, bool, set[str]]:
    """Write a batch's vectors for the jobs still held, delete those jobs, log the batch.
    Returns (jobs completed, whether vectors that were visible before got replaced, the
    memory ids of the jobs completed: derived writes apply to those only)."""
    mine = held(db, jobs)
    if not mine:
        return 0, False, set()
    ids = {j.memory_id for j in mine}
    replaced = False
    writes = [v for v in output.vectors if v.memory_id in ids]
    if writes:
        seq = next_seq()
        for v in writes:
            before = db.execute("SELECT embedding IS NOT NULL FROM memories WHERE id = ? AND sys_to IS NULL "
                                "AND index_hash = ?", (v.memory_id, v.index_hash)).fetchone()
            if before is None:
                continue  # changed since the claim: the change queued a new job
            replaced = replaced or bool(before[0])
            db.execute("UPDATE memories SET embedding = ?, embed_model = ?, embed_version = ?, embed_seq = ? "
                       "WHERE id = ? AND sys_to IS NULL AND index_hash = ?",
                       (to_blob(v.keys), output.model_id, output.version, seq, v.memory_id, v.index_hash))
    done = [j.id for j in mine]
    db.execute(f"DELETE FROM jobs WHERE id IN ({_marks(len(done))})", done)
    db.execute("INSERT INTO job_log (at, stage, jobs, seconds) VALUES (?, ?, ?, ?)",
               (now, mine[0].stage, len(done), seconds))
    db.execute("DELETE FROM job_log WHERE at < ?", (now - LOG_KEEP_S,))
    return len(done), replaced, ids


def fail(db: sqlite3.Connection, jobs: Sequence[Job], error: str, *, now: float, max_attempts: int,
         backoff: Callable[[int], float]) -> int:
    """A batch failed: each job still held goes back to the queue after a backoff, or is set
    aside as failed (with the error) once it has had ``max_attempts``. Returns how many failed."""
    failed, retried = failure_plan(held(db, jobs), now=now, max_attempts=max_attempts, backoff=backoff)
    db.executemany("UPDATE jobs SET state = 'failed', error = ?, lease_until = NULL, token = NULL WHERE id = ?",
                   [(error, jid) for jid in failed])
    db.executemany("UPDATE jobs SET state = 'pending', error = ?, run_after = ?, lease_until = NULL, token = NULL "
                   "WHERE id = ?", [(error, at, jid) for at, jid in retried])
    return len(failed)


def release(db: sqlite3.Connection, jobs: Sequence[Job]) -> None:
    """Give claimed jobs back untried (a worker stopping): the attempt does not count."""
    for job in held(db, jobs):
        db.execute("UPDATE jobs SET state = 'pending', attempts = max(attempts - 1, 0), lease_until = NULL, "
                   "token = NULL WHERE id = ?", (job.id,))


def forget(db: sqlite3.Connection, memory_ids: Sequence[str]) -> None:
    """Drop the jobs of erased memories."""
    for start in range(0, len(memory_ids), CHUNK):
        chunk = list(memory_ids[start:start + CHUNK])
        db.execute(f"DELETE FROM jobs WHERE memory_id IN ({_marks(len(chunk))})", chunk)


def open_count(db: sqlite3.Connection, scope: Scope | None, stages: Sequence[str] | None,
               states: Sequence[JobState] = ("pending", "running")) -> int:
    sql = f"FROM jobs j WHERE j.state IN ({_marks(len(states))})"
    args: list[object] = [*states]
    if stages is not None:
        sql += f" AND j.stage IN ({_marks(len(stages))})"
        args += list(stages)
    if scope is not None and not db.execute(f"SELECT EXISTS (SELECT 1 {sql})", args).fetchone()[0]:
        return 0  # an idle queue (every search asks): no need to list the scope's ids
    where, params = _in_scope(scope)
    return int(db.execute(f"SELECT count(*) {sql} AND {where}", [*args, *params]).fetchone()[0])


def stats(db: sqlite3.Connection, scope: Scope | None, now: float) -> list[StageStats]:
    where, params = _in_scope(scope)
    states = db.execute(f"SELECT j.stage, j.state, count(*), min(j.enqueued_at) FROM jobs j WHERE {where} "
                        "GROUP BY j.stage, j.state", params).fetchall()
    # SQLite takes a bare column from the row that max() picked: the newest failed job's error
    errors = {stage: error for stage, error, _ in db.execute(
        f"SELECT j.stage, j.error, max(j.id) FROM jobs j WHERE j.state = 'failed' AND {where} GROUP BY j.stage",
        params)}
    log = db.execute("SELECT stage, sum(CASE WHEN at >= ? THEN jobs ELSE 0 END), sum(jobs), sum(seconds) "
                     "FROM job_log WHERE at >= ? GROUP BY stage", (now - 60.0, now - LOG_KEEP_S)).fetchall()
    return stage_stats(states, errors, log)


def list_jobs(db: sqlite3.Connection, state: JobState | None, stage: str | None, limit: int) -> list[JobInfo]:
    sql = "SELECT id, stage, memory_id, state, attempts, enqueued_at, run_after, error FROM jobs WHERE 1"
    args: list[object] = []
    if state is not None:
        sql += " AND state = ?"
        args.append(state)
    if stage is not None:
        sql += " AND stage = ?"
        args.append(stage)
    rows = db.execute(sql + " ORDER BY id LIMIT ?", [*args, limit]).fetchall()
    return [JobInfo(r[0], r[1], r[2], r[3], r[4], _at(r[5]), _at(r[6]), r[7]) for r in rows]


def retry(db: sqlite3.Connection, stage: str | None, ids: Sequence[int] | None, now: float) -> int:
    """Put failed jobs back in the queue with a fresh count of attempts."""
    sql = ("UPDATE jobs SET state = 'pending', attempts = 0, run_after = ?, error = NULL, token = NULL, "
           "lease_until = NULL WHERE state = 'failed'")
    args: list[object] = [now]
    if stage is not None:
        sql += " AND stage = ?"
        args.append(stage)
    if ids is not None:
        if not ids:
            return 0
        sql += f" AND id IN ({_marks(len(ids))})"
        args += list(ids)
    return int(db.execute(sql, args).rowcount)


def _at(value: float) -> datetime:
    when = dt(value)
    assert when is not None
    return when
