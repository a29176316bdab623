"""The background pipeline's vocabulary: jobs, what a stage produces, queue statistics.

A job is one stage's work for one memory. Stores keep jobs in the same transaction as
the records they concern (see ``Store.claim`` and friends in core/ports.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from engramdb.core.models import MemoryRecord

JobState = Literal["pending", "running", "failed"]
JOB_STATES: tuple[JobState, ...] = ("pending", "running", "failed")


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job to enqueue: ``stage`` for the memory ``memory_id``."""

    stage: str
    memory_id: str


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job: it stays this worker's while ``token`` is the job's claim token.

    ``record`` is the memory's current version when the job was claimed (None when it
    is gone or superseded: the job is then completed with no output)."""

    id: int
    stage: str
    memory_id: str
    attempts: int
    token: str
    record: MemoryRecord | None


@dataclass(frozen=True, slots=True)
class VectorWrite:
    """Vectors for the current version of a memory, valid only while its index text is the
    one they were made from (``index_hash``): an update in between makes them stale, and
    the update has queued a new job."""

    memory_id: str
    index_hash: str
    keys: npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Supersession:
    """Reconciliation's verdict: ``old_id`` stopped holding when ``new_id`` was said; it stays
    readable (``valid_at`` before ``valid_to``, ``as_of``, history)."""

    old_id: str
    new_id: str
    valid_to: datetime


@dataclass(frozen=True, slots=True)
class Merge:
    """``dropped_id`` (a derived memory) says what ``kept_id`` already says: it is erased and
    its provenance joins the kept one's."""

    kept_id: str
    dropped_id: str


@dataclass(frozen=True, slots=True)
class StageOutput:
    """What one batch of a stage writes, in the transaction that completes its jobs. Derived
    ``records`` (with provenance naming the job's memories) are added with their ``jobs``;
    ``supersede`` and ``merge`` apply reconciliation. Anything that names a memory whose job
    is no longer held (written again meanwhile) is dropped: the new job redoes it."""

    vectors: tuple[VectorWrite, ...] = ()
    model_id: str | None = None
    version: int = 1
    records: tuple[MemoryRecord, ...] = ()
    jobs: tuple[JobSpec, ...] = ()
    supersede: tuple[Supersession, ...] = ()
    merge: tuple[Merge, ...] = ()


@dataclass(frozen=True, slots=True)
class JobInfo:
    """One job row as ``engram jobs`` lists it."""

    id: int
    stage: str
    memory_id: str
    state: JobState
    attempts: int
    enqueued_at: datetime
    run_after: datetime
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "stage": self.stage, "memory_id": self.memory_id, "state": self.state,
                "attempts": self.attempts, "enqueued_at": self.enqueued_at.isoformat(),
                "run_after": self.run_after.isoformat(), "error": self.error}


@dataclass(frozen=True, slots=True)
class StageStats:
    """One stage's queue: jobs per state, the oldest pending one, recent throughput."""

    stage: str
    pending: int = 0
    running: int = 0
    failed: int = 0
    oldest_pending: datetime | None = None
    done_last_minute: int = 0
    done_last_hour: int = 0
    busy_seconds_last_hour: float = 0.0  # time workers spent on this stage's batches
    last_error: str | None = None  # the error of the newest failed job (all of them: list_jobs)

    @property
    def jobs_per_second(self) -> float | None:
        """Throughput while working (jobs / busy second over the last hour), None without data."""
        if self.busy_seconds_last_hour <= 0:
            return None
        return self.done_last_hour / self.busy_seconds_last_hour

    def to_dict(self) -> dict[str, Any]:
        rate = self.jobs_per_second
        return {"stage": self.stage, "pending": self.pending, "running": self.running, "failed": self.failed,
                "oldest_pending": self.oldest_pending.isoformat() if self.oldest_pending else None,
                "done_last_minute": self.done_last_minute, "done_last_hour": self.done_last_hour,
                "jobs_per_second": None if rate is None else round(rate, 1), "last_error": self.last_error}


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """``Memory.status()``: the pipeline's queue per stage, and who works on it."""

    stages: tuple[StageStats, ...]
    at: datetime
    background: bool  # this Memory derives in the background (False: inline, as it writes)
    worker_running: bool  # this process runs a background worker thread
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        return sum(s.pending + s.running for s in self.stages)

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        oldest = [s.oldest_pending for s in self.stages if s.oldest_pending is not None]
        age = (self.at - min(oldest)).total_seconds() if oldest else None
        return {"stages": [s.to_dict() for s in self.stages], "pending": self.pending, "failed": self.failed,
                "oldest_pending_age_s": None if age is None else round(age, 3), "background": self.background,
                "worker_running": self.worker_running, **self.extra}


@dataclass(frozen=True, slots=True)
class FlushReport:
    """What ``Memory.flush`` did: jobs it saw done (open when it looked first and done when it
    returned; a background thread may finish some before flush looks), jobs that failed for
    good, jobs left (only after a timeout), and how long it took."""

    done: int
    failed: int
    remaining: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "failed": self.failed, "remaining": self.remaining,
                "seconds": round(self.seconds, 3)}


#: The embedding stage: every memory's whole text and sentence keys as vectors.
EMBED_STAGE = "embed"
#: Its version, stored with the vectors it makes: a change of what it embeds (the sentence
#: keys, the index text) bumps it, and ``engram reindex`` re-embeds what an older one made.
EMBED_VERSION = 1
