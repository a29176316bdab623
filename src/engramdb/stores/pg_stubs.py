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
postgres.py; the queue's and retention's have); ``PostgresStore.capabilities`` lists what is
real, and the tests skip the PostgreSQL runs of what is not yet (tests/conftest.py ``pg_needs``).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import NoReturn

from engramdb.core.errors import StoreError
from engramdb.core.ports import Facets, Keys, ReadSpec, ScoredList, Vector


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
