"""Placeholders for the parts of PostgresStore that other modules bring (issue 13).

PostgresStore composes three mixins besides its record side (stores/postgres.py):

- search (``stores/pg_search.py``, class ``PgSearchMethods``): text_search, window_search,
  vector_search, key_search, window_vector_search, adjacent, facets, vector_for_hash,
  embed_models; PROVIDES = {"search"};
- queue (``stores/pg_queue.py``, class ``PgQueueMethods``): enqueue, claim, complete,
  fail_jobs, release, open_jobs, queue_stats, list_jobs, retry_jobs, and the two hooks the
  record side calls inside its write transactions, ``_enqueue_jobs(cur, jobs, now)`` and
  ``_forget_jobs(cur, memory_ids)``; PROVIDES = {"queue"};
- retention (``stores/pg_retention.py``, class ``PgRetentionMethods``): record_recalls,
  recall_stats, retention_scan, archive, unarchive, list_archived, expired;
  PROVIDES = {"retention"}.

Each placeholder raises StoreError until its module replaces it (one import line in
postgres.py); ``PostgresStore.capabilities`` lists what is real, and the tests skip the
PostgreSQL runs of what is not yet (tests/conftest.py ``pg_needs``).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NoReturn

from engramdb.core.errors import StoreError
from engramdb.core.jobs import Job, JobInfo, JobSpec, JobState, StageOutput, StageStats
from engramdb.core.models import Kind, Records, Scope
from engramdb.core.ports import Facets, Keys, ReadSpec, RecallStats, ScoredList, Vector


def _missing(what: str) -> NoReturn:
    raise StoreError(f"PostgresStore.{what} is not implemented yet")


class PgSearchMethods:
    PROVIDES: frozenset[str] = frozenset()

    def text_search(self, spec: ReadSpec, terms: Sequence[str], limit: int) -> ScoredList:
        _missing("text_search")

    def window_search(self, spec: ReadSpec, terms: Sequence[str], limit: int) -> ScoredList:
        _missing("window_search")

    def vector_search(self, spec: ReadSpec, query: Vector, model_id: str, limit: int) -> ScoredList:
        _missing("vector_search")

    def key_search(self, spec: ReadSpec, refs: Sequence[int], query: Vector, model_id: str) -> ScoredList:
        _missing("key_search")

    def window_vector_search(self, spec: ReadSpec, query: Vector, model_id: str, limit: int) -> ScoredList:
        _missing("window_vector_search")

    def adjacent(self, refs: Sequence[int], spec: ReadSpec, width: int) -> dict[int, builtins.list[tuple[int, int]]]:
        _missing("adjacent")

    def facets(self, refs: Sequence[int]) -> dict[int, Facets]:
        _missing("facets")

    def vector_for_hash(self, index_hash: str, model_id: str, dim: int, version: int = 1) -> Keys | None:
        return None  # a miss: the caller embeds the text itself

    def embed_models(self, spec: ReadSpec) -> dict[str | None, int]:
        _missing("embed_models")


class PgQueueMethods:
    PROVIDES: frozenset[str] = frozenset()

    def _enqueue_jobs(self, cur: Any, jobs: Sequence[JobSpec], now: float) -> None:
        if jobs:
            _missing("enqueue")

    def _forget_jobs(self, cur: Any, memory_ids: Sequence[str]) -> None:
        return None  # no job can exist without the queue

    def enqueue(self, jobs: Sequence[JobSpec]) -> None:
        _missing("enqueue")

    def claim(self, stages: Sequence[str], limit: int, *, worker: str, lease_s: float,
              scope: Scope | None = None) -> builtins.list[Job]:
        _missing("claim")

    def complete(self, jobs: Sequence[Job], output: StageOutput, *, seconds: float) -> int:
        _missing("complete")

    def fail_jobs(self, jobs: Sequence[Job], error: str, *, max_attempts: int,
                  backoff: Callable[[int], float]) -> int:
        _missing("fail_jobs")

    def release(self, jobs: Sequence[Job]) -> None:
        _missing("release")

    def open_jobs(self, scope: Scope | None = None, stages: Sequence[str] | None = None,
                  states: Sequence[JobState] = ("pending", "running")) -> int:
        _missing("open_jobs")

    def queue_stats(self, scope: Scope | None = None) -> builtins.list[StageStats]:
        _missing("queue_stats")

    def list_jobs(self, *, state: JobState | None = None, stage: str | None = None,
                  limit: int = 100) -> builtins.list[JobInfo]:
        _missing("list_jobs")

    def retry_jobs(self, *, stage: str | None = None, ids: Sequence[int] | None = None) -> int:
        _missing("retry_jobs")


class PgRetentionMethods:
    PROVIDES: frozenset[str] = frozenset()

    def record_recalls(self, memory_ids: Sequence[str], at: datetime, *, count: int = 1) -> int:
        _missing("record_recalls")

    def recall_stats(self, refs: Sequence[int]) -> dict[int, RecallStats]:
        _missing("recall_stats")

    def retention_scan(self, kinds: Sequence[Kind], *, after_ref: int, limit: int) -> builtins.list[RecallStats]:
        _missing("retention_scan")

    def archive(self, memory_ids: Sequence[str], at: datetime) -> int:
        _missing("archive")

    def unarchive(self, memory_ids: Sequence[str], at: datetime, scope: Scope | None = None) -> int:
        _missing("unarchive")

    def list_archived(self, spec: ReadSpec, *, limit: int = 100, offset: int = 0) -> Records:
        _missing("list_archived")

    def expired(self, at: datetime, limit: int) -> builtins.list[str]:
        _missing("expired")
