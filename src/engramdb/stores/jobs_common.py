"""What both SQL stores' job queues share: the job log's window and the assembly of the
per-stage statistics from their grouped rows (stores/sqlite_jobs.py, stores/pg_jobs.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from engramdb.core.jobs import Job, StageStats
from engramdb.stores.sql_common import dt

LOG_KEEP_S = 3600.0  # job_log rows older than this are dropped


def stage_stats(states: Iterable[tuple[Any, ...]], errors: Mapping[str, str | None],
                log: Iterable[tuple[Any, ...]]) -> list[StageStats]:
    """``states``: (stage, state, jobs, oldest enqueued_at) per stage and state; ``errors``: the
    newest failed job's error per stage; ``log``: (stage, jobs done in the last minute, in the
    last hour, busy seconds in the last hour) per stage."""
    counts: dict[str, dict[str, int]] = {}
    oldest: dict[str, float] = {}
    for stage, state, n, first in states:
        counts.setdefault(stage, {})[state] = int(n)
        if state in ("pending", "running"):
            oldest[stage] = min(oldest.get(stage, first), first)
    done = {stage: (int(minute or 0), int(hour or 0), float(busy or 0.0)) for stage, minute, hour, busy in log}
    out = []
    for stage in sorted(set(counts) | set(done)):
        c = counts.get(stage, {})
        minute, hour, busy = done.get(stage, (0, 0, 0.0))
        out.append(StageStats(stage, c.get("pending", 0), c.get("running", 0), c.get("failed", 0),
                              dt(oldest[stage]) if stage in oldest else None, minute, hour, busy,
                              errors.get(stage)))
    return out


def failure_plan(jobs: Sequence[Job], *, now: float, max_attempts: int,
                 backoff: Callable[[int], float]) -> tuple[list[int], list[tuple[float, int]]]:
    """A failed batch's held jobs: the ids set aside as failed (they had ``max_attempts``), and
    (run_after, id) of those that go back to the queue after their backoff."""
    failed = [j.id for j in jobs if j.attempts >= max_attempts]
    retried = [(now + backoff(j.attempts), j.id) for j in jobs if j.attempts < max_attempts]
    return failed, retried
