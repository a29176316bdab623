"""The job queue of the PostgreSQL store (table ``jobs``, migration 0003): SQLite's rules
(stores/sqlite_jobs.py) on many connections.

Every function runs inside a transaction the caller holds (``Connection.write`` / ``read``).
A claim takes its rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` in a transaction of its own
that does not wait for the store's writers' lock: two workers never lease the same job, and a
claim never waits for a row another transaction holds. Everything else that changes a job runs
under the writers' lock and first locks the job rows it acts on (:func:`held`), so it waits for
a claim of the same rows to commit and then sees its new token: a claim that was taken over,
or a job reset by a new write of its memory, is never completed or failed by its old holder.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime

from engramdb.core.errors import StoreError
from engramdb.core.jobs import Job, JobInfo, JobSpec, JobState, StageOutput, StageStats, VectorWrite
from engramdb.core.models import MemoryRecord, Scope
from engramdb.stores import pg_records as rows
from engramdb.stores.jobs_common import LOG_KEEP_S, failure_plan, stage_stats
from engramdb.stores.pg_conn import Cursor
from engramdb.stores.pg_sql import COLUMNS, scope_clause
from engramdb.stores.sql_common import dt, record_from_row

# ready: pending and due, or running with an expired lease (its worker died); the first term
# lets the planner walk the partial index of open jobs
_READY = ("j.state <> 'failed' AND ((j.state = 'pending' AND j.run_after <= %s) "
          "OR (j.state = 'running' AND j.lease_until < %s))")


def db_now(cur: Cursor) -> float:
    """The database server's clock (epoch seconds): the queue's one clock, whatever the clocks
    of the hosts whose workers share it say (a lease judged by two skewed clocks could be
    taken over while its holder still works)."""
    cur.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
    row = cur.fetchone()
    assert row is not None
    return float(row[0])


def _in_scope(scope: Scope | None) -> tuple[str, list[object]]:
    """Jobs of memories inside ``scope`` (every job for None)."""
    if scope is None:
        return "TRUE", []
    where, params = scope_clause(scope)
    return f"j.memory_id IN (SELECT m.id FROM memories m WHERE {where})", list(params)


def enqueue(cur: Cursor, jobs: Sequence[JobSpec], now: float) -> None:
    """Queue jobs in their order; a job already there (pending, running or failed) starts over,
    so a worker still holding the old claim cannot complete it."""
    specs = list(dict.fromkeys((j.stage, j.memory_id) for j in jobs))  # one statement touches a row once
    if not specs:
        return
    cur.execute(
        "INSERT INTO jobs (stage, memory_id, state, attempts, enqueued_at, run_after) "
        "SELECT u.stage, u.memory_id, 'pending', 0, %s, %s "
        "FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS u(stage, memory_id, n) ORDER BY u.n "
        "ON CONFLICT (stage, memory_id) DO UPDATE SET state = 'pending', attempts = 0, "
        "enqueued_at = excluded.enqueued_at, run_after = excluded.run_after, lease_until = NULL, token = NULL, "
        "worker = NULL, error = NULL",
        (now, now, [s for s, _ in specs], [m for _, m in specs]))


def claim(cur: Cursor, stages: Sequence[str], limit: int, *, worker: str, lease_s: float, now: float,
          scope: Scope | None = None) -> list[Job]:
    """Lease up to ``limit`` ready jobs of one stage, oldest first. A job that was tried before
    (it failed, or its worker died) is leased alone, so one bad record cannot fail a batch again."""
    if not stages or limit <= 0:
        return []
    where, params = _in_scope(scope)
    base = f"FROM jobs j WHERE j.stage = ANY(%s) AND {_READY} AND {where}"
    args = [list(stages), now, now, *params]
    cur.execute(f"SELECT j.id, j.stage, j.attempts {base} ORDER BY j.id LIMIT 1 FOR UPDATE SKIP LOCKED", args)
    first = cur.fetchone()
    if first is None:
        return []
    first_id, stage, attempts = first
    ids = [int(first_id)]
    if attempts == 0 and limit > 1:
        # the first row is ours already (a transaction's own locks are not skipped)
        cur.execute(f"SELECT j.id {base} AND j.stage = %s AND j.attempts = 0 ORDER BY j.id LIMIT %s "
                    "FOR UPDATE SKIP LOCKED", [*args, stage, limit])
        ids = [int(r[0]) for r in cur.fetchall()]
    token = secrets.token_hex(8)
    cur.execute("UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = %s, token = %s, "
                "worker = %s WHERE id = ANY(%s) RETURNING id, memory_id, attempts",
                (now + lease_s, token, worker, ids))
    leased = sorted((int(jid), str(mid), int(n)) for jid, mid, n in cur.fetchall())
    current = _current_records(cur, [mid for _, mid, _ in leased])
    return [Job(jid, stage, mid, n, token, current.get(mid)) for jid, mid, n in leased]


def _current_records(cur: Cursor, memory_ids: Sequence[str]) -> dict[str, MemoryRecord]:
    cur.execute(f"SELECT {COLUMNS} FROM memories m WHERE m.id = ANY(%s) AND m.sys_to IS NULL", (list(memory_ids),))
    found = [record_from_row(r) for r in cur.fetchall()]
    return {rec.id: rec for rec in found}


def held(cur: Cursor, jobs: Sequence[Job]) -> list[Job]:
    """The jobs still held by their claim (not re-queued by a new write, not re-claimed), their
    rows locked until the transaction ends."""
    if not jobs:
        return []
    tokens = {j.id: j.token for j in jobs}
    cur.execute("SELECT id, token FROM jobs WHERE id = ANY(%s) AND state = 'running' ORDER BY id FOR UPDATE",
                (list(tokens),))
    mine = {int(jid) for jid, token in cur.fetchall() if tokens.get(int(jid)) == token}
    return [j for j in jobs if j.id in mine]


def complete(cur: Cursor, jobs: Sequence[Job], output: StageOutput, *, now: float,
             seconds: float) -> tuple[int, bool, set[str]]:
    """Write a batch's vectors for the jobs still held, delete those jobs, log the batch.
    Returns (jobs completed, whether vectors that were visible before got replaced, the
    memory ids of the jobs completed: derived writes apply to those only)."""
    mine = held(cur, jobs)
    if not mine:
        return 0, False, set()
    ids = {j.memory_id for j in mine}
    replaced = _write_vectors(cur, [v for v in output.vectors if v.memory_id in ids], output.model_id,
                              output.version)
    done = [j.id for j in mine]
    cur.execute("DELETE FROM jobs WHERE id = ANY(%s)", (done,))
    cur.execute("INSERT INTO job_log (at, stage, jobs, seconds) VALUES (%s, %s, %s, %s)",
                (now, mine[0].stage, len(done), seconds))
    cur.execute("DELETE FROM job_log WHERE at < %s", (now - LOG_KEEP_S,))
    return len(done), replaced, ids


def _write_vectors(cur: Cursor, vectors: Sequence[VectorWrite], model_id: str | None, version: int) -> bool:
    """The vectors of the current versions whose index text is still the one they were made
    from (an update in between queued a new job); True when some replaced visible vectors."""
    if not vectors:
        return False
    if model_id is None:
        raise StoreError("a stage wrote vectors without naming their model")
    cur.execute("SELECT m.id, m.index_hash, m.ref, EXISTS (SELECT 1 FROM vectors v WHERE v.ref = m.ref) "
                "FROM memories m WHERE m.id = ANY(%s) AND m.sys_to IS NULL", ([v.memory_id for v in vectors],))
    current = {(mid, ihash): (int(ref), bool(had)) for mid, ihash, ref, had in cur.fetchall()}
    targets = [(v, current[v.memory_id, v.index_hash]) for v in vectors if (v.memory_id, v.index_hash) in current]
    if not targets:
        return False
    refs = [ref for _, (ref, _) in targets]
    cur.execute("DELETE FROM vectors WHERE ref = ANY(%s)", (refs,))
    cur.execute("UPDATE memories SET embed_model = %s, embed_version = %s, embed_seq = %s WHERE ref = ANY(%s)",
                (model_id, version, rows.next_seq(cur), refs))
    rows.write_many_vectors(cur, [(ref, v.keys) for v, (ref, _) in targets], model_id)
    return any(had for _, (_, had) in targets)


def fail(cur: Cursor, jobs: Sequence[Job], error: str, *, now: float, max_attempts: int,
         backoff: Callable[[int], float]) -> int:
    """A batch failed: each job still held goes back to the queue after a backoff, or is set
    aside as failed (with the error) once it has had ``max_attempts``. Returns how many failed."""
    failed, retried = failure_plan(held(cur, jobs), now=now, max_attempts=max_attempts, backoff=backoff)
    if failed:
        cur.execute("UPDATE jobs SET state = 'failed', error = %s, lease_until = NULL, token = NULL "
                    "WHERE id = ANY(%s)", (error, failed))
    if retried:
        cur.executemany("UPDATE jobs SET state = 'pending', error = %s, run_after = %s, lease_until = NULL, "
                        "token = NULL WHERE id = %s", [(error, at, jid) for at, jid in retried])
    return len(failed)


def release(cur: Cursor, jobs: Sequence[Job]) -> None:
    """Give claimed jobs back untried (a worker stopping): the attempt does not count."""
    mine = [j.id for j in held(cur, jobs)]
    if mine:
        cur.execute("UPDATE jobs SET state = 'pending', attempts = greatest(attempts - 1, 0), lease_until = NULL, "
                    "token = NULL WHERE id = ANY(%s)", (mine,))


def forget(cur: Cursor, memory_ids: Sequence[str]) -> None:
    """Drop the jobs of erased memories."""
    if memory_ids:
        cur.execute("DELETE FROM jobs WHERE memory_id = ANY(%s)", (list(memory_ids),))


def open_count(cur: Cursor, scope: Scope | None, stages: Sequence[str] | None,
               states: Sequence[JobState] = ("pending", "running")) -> int:
    sql = "FROM jobs j WHERE j.state = ANY(%s)"
    args: list[object] = [list(states)]
    if stages is not None:
        sql += " AND j.stage = ANY(%s)"
        args.append(list(stages))
    if scope is not None:
        cur.execute(f"SELECT EXISTS (SELECT 1 {sql})", args)
        row = cur.fetchone()
        if not (row and row[0]):
            return 0  # an idle queue (every search asks): no need to look at the scope's ids
    where, params = _in_scope(scope)
    cur.execute(f"SELECT count(*) {sql} AND {where}", [*args, *params])
    row = cur.fetchone()
    return int(row[0]) if row else 0


def stats(cur: Cursor, scope: Scope | None, now: float) -> list[StageStats]:
    where, params = _in_scope(scope)
    cur.execute(f"SELECT j.stage, j.state, count(*), min(j.enqueued_at) FROM jobs j WHERE {where} "
                "GROUP BY j.stage, j.state", params)
    states = cur.fetchall()
    cur.execute(f"SELECT DISTINCT ON (j.stage) j.stage, j.error FROM jobs j WHERE j.state = 'failed' AND {where} "
                "ORDER BY j.stage, j.id DESC", params)  # the newest failed job's error
    errors = {stage: error for stage, error in cur.fetchall()}
    cur.execute("SELECT stage, sum(CASE WHEN at >= %s THEN jobs ELSE 0 END), sum(jobs), sum(seconds) "
                "FROM job_log WHERE at >= %s GROUP BY stage", (now - 60.0, now - LOG_KEEP_S))
    return stage_stats(states, errors, cur.fetchall())


def list_jobs(cur: Cursor, state: JobState | None, stage: str | None, limit: int) -> list[JobInfo]:
    sql = "SELECT id, stage, memory_id, state, attempts, enqueued_at, run_after, error FROM jobs WHERE TRUE"
    args: list[object] = []
    if state is not None:
        sql += " AND state = %s"
        args.append(state)
    if stage is not None:
        sql += " AND stage = %s"
        args.append(stage)
    cur.execute(sql + " ORDER BY id LIMIT %s", [*args, limit])
    return [JobInfo(int(r[0]), r[1], r[2], r[3], int(r[4]), _at(r[5]), _at(r[6]), r[7]) for r in cur.fetchall()]


def retry(cur: Cursor, stage: str | None, ids: Sequence[int] | None, now: float) -> int:
    """Put failed jobs back in the queue with a fresh count of attempts."""
    sql = ("UPDATE jobs SET state = 'pending', attempts = 0, run_after = %s, error = NULL, token = NULL, "
           "lease_until = NULL WHERE state = 'failed'")
    args: list[object] = [now]
    if stage is not None:
        sql += " AND stage = %s"
        args.append(stage)
    if ids is not None:
        if not ids:
            return 0
        sql += " AND id = ANY(%s)"
        args.append([int(i) for i in ids])
    cur.execute(sql, args)
    return int(cur.rowcount)


def _at(value: float) -> datetime:
    when = dt(value)
    assert when is not None
    return when
