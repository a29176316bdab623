"""Ports: the protocols adapters implement. They speak only core types (and numpy arrays)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from engramdb.core.filters import Node
from engramdb.core.jobs import Job, JobInfo, JobSpec, JobState, StageOutput, StageStats
from engramdb.core.models import Events, HistoryEvent, Kind, MemoryRecord, Records, Scope, ScopeSummary

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]
# The vectors one memory is found by, shape (1 + n, dim): row 0 embeds its whole index
# text, rows 1..n its sentence keys (engine/keys.py; none for a one-sentence text).
Keys = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors (cosine = dot product)."""

    @property
    def model_id(self) -> str:
        """Identifies the model; vectors from different model_ids never mix."""
        ...

    @property
    def dim(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        """One row per text, shape (len(texts), dim)."""
        ...

    def embed_query(self, text: str) -> Vector:
        """Shape (dim,). Models with query instructions (e5, bge) apply them here."""
        ...


@dataclass(frozen=True, slots=True)
class ReadSpec:
    """Which records a read may see: one scope, optional filters, a point in system time
    (``as_of``: versions current then), a point in event time (``valid_at``: what had been said
    by then and still held then: event_time <= valid_at < valid_to, superseded or not), and
    the read's clock ``at`` (memories whose ``expires_at`` has passed by then are skipped;
    ``as_of`` is the clock when given; None: no expiry check).

    ``include_archived=False`` leaves out memories a maintenance pass archived (with ``as_of``:
    those archived by then). The port's default is True: the store's and the pipeline's own
    reads (reconciliation must see an archived fact of a slot to supersede it) see them;
    Memory's reads pass False unless the caller asks for archived memories."""

    scope: Scope
    filters: Node | None = None
    kinds: tuple[Kind, ...] | None = None
    as_of: datetime | None = None
    include_superseded: bool = False
    valid_at: datetime | None = None
    at: datetime | None = None
    include_archived: bool = True


@dataclass(frozen=True, slots=True)
class Scored:
    """A store-level candidate: an opaque reference to one record version and a raw
    score (higher is better). Records are fetched only for candidates that survive fusion."""

    ref: int
    score: float


ScoredList = list[Scored]


@dataclass(frozen=True, slots=True)
class Facets:
    """The few fields query-time expansions group candidates by."""

    session_id: str | None
    speaker: str | None
    event_time: datetime
    role: str | None = None


@dataclass(frozen=True, slots=True)
class RecallStats:
    """What retention is computed from, for one current record version (retrieval/retention.py).

    ``written``: when this version was written (system time); ``last_recalled``: the last
    search that packed it (None: never); ``recalls``: how many did; ``importance``: the number
    in ``metadata["importance"]`` when there is one (unchecked: retention clamps it)."""

    ref: int
    memory_id: str
    kind: Kind
    written: datetime
    last_recalled: datetime | None
    recalls: int
    importance: float | None


class Store(Protocol):
    """Durable memory storage. Every write is one transaction; reads are scoped."""

    def add(self, records: Sequence[MemoryRecord], vectors: Sequence[Keys | None] | None, model_id: str | None,
            jobs: Sequence[JobSpec] = ()) -> None:
        """Insert new records (version 1), their 'add' history events and ``jobs``, atomically.
        A record whose vector is None has none until a job (or ``set_vectors``) gives it one."""
        ...

    def replace(self, record: MemoryRecord, vector: Keys | None, model_id: str | None,
                jobs: Sequence[JobSpec] = ()) -> MemoryRecord:
        """Make ``record`` the next version of its id ('update' event) and queue ``jobs``; return it."""
        ...

    def supersede(
        self, old_id: str, scope: Scope, new: MemoryRecord, vector: Keys | None, model_id: str | None,
        jobs: Sequence[JobSpec] = (),
    ) -> MemoryRecord:
        """Insert ``new``, mark ``old_id`` superseded by it and queue ``jobs``, atomically."""
        ...

    def set_vectors(self, memory_ids: Sequence[str], vectors: Sequence[Keys], model_id: str) -> int:
        """Replace the vectors of these memories' current versions, atomically. Vectors are index
        data derived from the content: no new version, no history event. Returns rows changed."""
        ...

    def get(self, memory_id: str, scope: Scope | None = None) -> MemoryRecord:
        """Latest version of a memory (superseded ones included). NotFoundError if absent."""
        ...

    def list(self, spec: ReadSpec, *, limit: int = 100, offset: int = 0, newest_first: bool = False) -> Records:
        """Visible records in event-time order (``newest_first``: the reverse)."""
        ...

    def count(self, spec: ReadSpec) -> int: ...

    def delete(self, memory_id: str, scope: Scope | None = None) -> None:
        """Remove every version, index entry and vector of a memory and of every memory derived
        from it (supersession and provenance links, within its user and agent), with their
        history; leave one tombstone per removed id (id, time, opaque owner tags)."""
        ...

    def delete_scope(self, scope: Scope) -> int:
        """Remove every memory in a scope as ``delete`` does, and every history row and
        tombstone of the scope; returns how many ids were removed."""
        ...

    def history(self, memory_id: str, scope: Scope | None = None) -> Events: ...

    def scopes(self, scope: Scope | None = None, *, by_session: bool = False) -> builtins.list[ScopeSummary]:
        """Scopes holding current memories (inside ``scope`` when given), grouped by (user, agent),
        or by (user, agent, session) with ``by_session``; ordered by their fields."""
        ...

    def embed_models(self, spec: ReadSpec) -> dict[str | None, int]:
        """How many visible records carry vectors of each embedding model (None: no vectors)."""
        ...

    def text_search(self, spec: ReadSpec, terms: Sequence[str], limit: int) -> ScoredList:
        """BM25 over the full-text index; any term may match."""
        ...

    def window_search(self, spec: ReadSpec, terms: Sequence[str], limit: int) -> ScoredList:
        """Turns scored by the best BM25 of an episode window containing them (the turn and the
        turns just before it in its session), from the ``limit`` best windows; visible turns only."""
        ...

    def vector_search(self, spec: ReadSpec, query: Vector, model_id: str, limit: int) -> ScoredList:
        """Exact cosine scan over the visible records embedded with ``model_id``."""
        ...

    def key_search(self, spec: ReadSpec, refs: Sequence[int], query: Vector, model_id: str) -> ScoredList:
        """The given candidates, each scored by the best cosine among its whole-text vector and
        its sentence keys, best first; refs not visible to ``spec`` (or without vectors of
        ``model_id``) are left out."""
        ...

    def window_vector_search(self, spec: ReadSpec, query: Vector, model_id: str, limit: int) -> ScoredList:
        """Turns scored by the best cosine of an episode window containing them; a window's vector is
        the normalised sum of a turn's and the two turns' before it in its session; visible turns only."""
        ...

    def fetch(self, refs: Sequence[int], spec: ReadSpec | None = None) -> dict[int, MemoryRecord]:
        """The record versions behind candidate refs (missing refs are left out).

        With ``spec``, refs no longer visible to it are left out too: a concurrent
        delete may free a ref for another scope's record before the fetch runs.
        """
        ...

    def adjacent(self, refs: Sequence[int], spec: ReadSpec, width: int) -> dict[int, builtins.list[tuple[int, int]]]:
        """For each ref, (neighbour ref, offset) of up to ``width`` visible records before
        (offset -1, -2, ...) and after (+1, +2, ...) it in the same session."""
        ...

    def facets(self, refs: Sequence[int]) -> dict[int, Facets]:
        """Session id and speaker of each ref, without fetching whole records."""
        ...

    def vectors_for_hashes(self, index_hashes: Sequence[str], model_id: str, dim: int,
                           version: int = 1) -> dict[str, Keys]:
        """The stored keys of identical index texts (MemoryRecord.index_hash) made by embed stage
        ``version``, for each hash that has some, in one read: equal text is embedded once, and
        a batch (a write's records, a search's candidates) costs one round trip to a server."""
        ...

    def export(self, scope: Scope | None = None) -> Iterator[dict[str, Any]]:
        """Every record version and history event, as JSON-ready dicts."""
        ...

    def restore(
        self,
        records: Sequence[MemoryRecord],
        events: Sequence[HistoryEvent],
        vectors: Sequence[Keys | None] | None,
        model_id: str | None,
        jobs: Sequence[JobSpec] = (),
    ) -> int:
        """Load exported record versions and events atomically; returns versions written.

        Everything is checked before anything is written. Versions already present
        with the same content are skipped, so a repeated import is a no-op; a clash
        with different content is a ConflictError, and so is any record or event
        that would touch a memory id held by another scope (in the store or
        elsewhere in the same import). New versions of a memory of the same scope
        are added after the current one, which stops being current.
        """
        ...

    # ---- the background pipeline's queue ---------------------------------------
    # Jobs are rows of the store, written with the records they concern. A claim leases
    # jobs to one worker under a fresh token; only the token's holder can complete or
    # fail them, and a write of the memory in between re-queues its job (the old claim
    # is then void). A job's row is deleted in the transaction that writes its output.

    def enqueue(self, jobs: Sequence[JobSpec]) -> None:
        """Queue jobs (a job already queued for the same stage and memory starts over)."""
        ...

    def claim(self, stages: Sequence[str], limit: int, *, worker: str, lease_s: float,
              scope: Scope | None = None) -> builtins.list[Job]:
        """Lease up to ``limit`` ready jobs of one of ``stages`` (pending and due, or running with
        an expired lease), oldest first; a job that failed before is leased alone."""
        ...

    def complete(self, jobs: Sequence[Job], output: StageOutput, *, seconds: float) -> int:
        """Write ``output`` for the jobs still held and delete them, atomically; returns how many."""
        ...

    def fail_jobs(self, jobs: Sequence[Job], error: str, *, max_attempts: int,
                  backoff: Callable[[int], float]) -> int:
        """Back to the queue after ``backoff(attempts)`` seconds, or 'failed' with ``error`` after
        ``max_attempts``; returns how many failed for good."""
        ...

    def release(self, jobs: Sequence[Job]) -> None:
        """Return held jobs to the queue; the attempt does not count."""
        ...

    def open_jobs(self, scope: Scope | None = None, stages: Sequence[str] | None = None,
                  states: Sequence[JobState] = ("pending", "running")) -> int:
        """How many jobs (of memories inside ``scope``) are in ``states``."""
        ...

    def queue_stats(self, scope: Scope | None = None) -> builtins.list[StageStats]: ...

    def list_jobs(self, *, state: JobState | None = None, stage: str | None = None,
                  limit: int = 100) -> builtins.list[JobInfo]: ...

    def retry_jobs(self, *, stage: str | None = None, ids: Sequence[int] | None = None) -> int:
        """Failed jobs back to pending with their attempts reset; returns how many."""
        ...

    # ---- retention: recall statistics, archiving, expiry ------------------------
    # Recall statistics are not content: recording them writes no version, no history event,
    # no index entry, and leaves the vector caches valid.

    def record_recalls(self, memory_ids: Sequence[str], at: datetime, *, count: int = 1) -> int:
        """Count ``count`` recalls, the last at ``at``, for the current versions of these memories
        (one statement); returns rows changed."""
        ...

    def recall_stats(self, refs: Sequence[int]) -> dict[int, RecallStats]:
        """The recall statistics of these record versions (missing refs are left out)."""
        ...

    def retention_scan(self, kinds: Sequence[Kind], *, after_ref: int, limit: int) -> builtins.list[RecallStats]:
        """Up to ``limit`` current, unarchived, unsuperseded records of ``kinds`` whose ref is above
        ``after_ref``, in ref order (a maintenance pass pages through the store with it)."""
        ...

    def archive(self, memory_ids: Sequence[str], at: datetime) -> int:
        """Mark the current versions of these memories archived at ``at`` (hidden from reads that
        pass ``include_archived=False``; nothing is deleted); returns how many were archived."""
        ...

    def unarchive(self, memory_ids: Sequence[str], at: datetime, scope: Scope | None = None) -> int:
        """Bring archived memories (of ``scope``, when given) back, as last recalled at ``at``;
        returns how many."""
        ...

    def list_archived(self, spec: ReadSpec, *, limit: int = 100, offset: int = 0) -> Records:
        """The archived memories ``spec`` may see, most recently archived first."""
        ...

    def expired(self, at: datetime, limit: int) -> builtins.list[str]:
        """Ids of up to ``limit`` memories whose ``expires_at`` is at or before ``at``."""
        ...

    def erase(self, memory_ids: Sequence[str]) -> builtins.list[str]:
        """Delete these memories for good as ``delete`` does (everything derived from them too,
        tombstones, the bytes), in one transaction, whatever their scope; ids already gone are
        skipped. Returns every id removed."""
        ...

    def sibling(self) -> Store:
        """A handle on the same database for another thread (a background worker); may be self."""
        ...

    def close(self) -> None: ...


# the LLM port lives in core/llm_port.py; its names stay importable from here
from engramdb.core.llm_port import (  # noqa: E402
    LLM,
    ChatMessage,
    Completion,
    JSONCompletion,
    JSONSchema,
    LLMUsage,
    StructuredMode,
)

__all__ = ["LLM", "ChatMessage", "Completion", "Embedder", "Facets", "JSONCompletion", "JSONSchema", "Keys",
           "LLMUsage", "Matrix", "ReadSpec", "RecallStats", "Scored", "ScoredList", "Store", "StructuredMode",
           "Vector"]
