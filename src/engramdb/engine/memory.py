"""The Memory facade: the one synchronous entry to engramdb's core."""

from __future__ import annotations

import atexit
import builtins
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from engramdb.core.bounds import INT64_MAX
from engramdb.core.errors import ValidationError
from engramdb.core.filters import parse_filters
from engramdb.core.jobs import JobSpec
from engramdb.core.models import (
    Events,
    Kind,
    MemoryRecord,
    Records,
    Scope,
    ScopeSummary,
    SearchResult,
    content_hash,
    utcnow,
)
from engramdb.core.ports import LLM, Embedder, Keys, ReadSpec, Store
from engramdb.core.timeparse import parse_datetime
from engramdb.engine.bulk import BulkFacade
from engramdb.engine.ingest import AddInput, build_records, clean_metadata, clean_text, drafts_from
from engramdb.engine.inputs import TimeLike, lifecycle_fields, make_records, maybe_scope
from engramdb.engine.knowledge import KnowledgeFacade, with_profile
from engramdb.engine.limits import validate_record
from engramdb.engine.maintenance import (
    ForgettingFacade,
    MaintainedPipeline,
    Maintainer,
    MaintenancePolicy,
)
from engramdb.engine.pipeline_facade import PipelineFacade
from engramdb.engine.recalls import RecallBuffer
from engramdb.pipeline.embed import vectors_for
from engramdb.pipeline.worker import WorkerOptions
from engramdb.retrieval.search import SearchParams
from engramdb.retrieval.search import search as run_search

WORKER_THREADS = 1  # compute threads of the background worker's embedder


class Memory(BulkFacade, PipelineFacade, KnowledgeFacade, ForgettingFacade):
    """Long-term memory for an agent.

    ``Memory()`` opens the embedded default (a SQLite file in the user data
    dir, or ``$ENGRAM_DB``) with the packaged local embedding model.
    ``sentence_keys=False`` embeds each memory once, as a whole: writes of long
    texts get several times cheaper, and search loses its sentence-level list
    for what is written that way (see BENCHMARKS.md for what that costs).
    ``create=False`` opens an existing database only (NotFoundError otherwise),
    so a mistyped path is an error rather than a new, empty file.

    Writes are acknowledged once recorded: a new memory is durable and keyword-searchable
    when ``add`` returns, and its vectors are made in the background (a worker thread
    that the first write starts; ``engram worker`` processes may help). ``flush()``
    waits for them; ``close()`` drains the queue for up to ``close_timeout`` seconds and
    leaves the rest queued for the next worker. ``background=False`` embeds inside each
    write instead (read-your-writes on semantic search, at the cost of the model's time).

    Two times: every memory has an *event time* (when it was said or was true:
    the message's timestamp) and *system times* (when engramdb learnt it, changed
    it, superseded it). Reads take ``valid_at`` (event time: only what had been
    said by then counts) and ``as_of`` (system time: memory as it knew things then,
    before later updates and supersessions).

    ``facts`` (default ``$ENGRAM_FACTS``, on) derives facts from what users say; ``llm`` (an
    LLM, default the one ``$ENGRAM_LLM`` names, ``False``: none) makes extraction and
    reconciliation ask a model instead of applying the rules.

    Forgetting (README "Forgetting"): each search counts a recall of the memories it packs
    (``track_recalls=False``: not); a maintenance pass (:meth:`maintain`; every
    ``maintenance.every_s`` seconds in the background worker when idle) archives derived memories
    and notes whose retention fell below ``maintenance.archive_below`` and erases expired ones.
    """

    def __init__(self, path_or_url: str | Path | None = None, *, embedder: Embedder | str | None = None,
                 store: Store | None = None, search_params: SearchParams | None = None,
                 sentence_keys: bool = True, create: bool = True, background: bool = True,
                 worker: WorkerOptions | None = None, close_timeout: float = 10.0, facts: bool | None = None,
                 llm: LLM | Literal[False] | None = None, track_recalls: bool = True,
                 maintenance: MaintenancePolicy | None = None, recall_flush_s: float = 2.0,
                 profile_in_context: bool = True) -> None:
        from engramdb.registry import facts_from_env, open_embedder, open_llm, open_store

        if close_timeout < 0:
            raise ValidationError("close_timeout must be at least 0 seconds")
        self.store: Store = store if store is not None else open_store(path_or_url, must_exist=not create)
        self._embedder: Embedder | None = None if embedder is None or isinstance(embedder, str) else embedder
        self._embedder_spec = embedder if isinstance(embedder, str) else None
        self._embedder_given = self._embedder is not None
        self._open_embedder = open_embedder
        self._embedder_lock = threading.Lock()
        self.search_params = search_params or SearchParams()
        self.sentence_keys = sentence_keys
        self.close_timeout = close_timeout
        self.track_recalls = track_recalls
        self.profile_in_context = profile_in_context
        self._recalls = RecallBuffer(self.store, recall_flush_s)
        self.maintainer = Maintainer(maintenance or MaintenancePolicy())
        self.pipeline = MaintainedPipeline(self.store, self._worker_embedder, background=background,
                                           with_keys=sentence_keys, options=worker,
                                           facts=facts if facts is not None else facts_from_env(),
                                           llm=(open_llm() if llm is None else llm) or None,
                                           maintainer=self.maintainer)
        self._for_worker: Embedder | None = None
        # a process that exits without close() still drains like close() does
        self._atexit = _close_at_exit(self)
        atexit.register(self._atexit)

    @property
    def background(self) -> bool:
        return self.pipeline.background

    @property
    def embedder(self) -> Embedder:
        """Loaded on first use, so reads that need no vectors never load a model."""
        if self._embedder is None:
            with self._embedder_lock:  # the worker thread and a search may both ask first
                if self._embedder is None:
                    self._embedder = self._open_embedder(self._embedder_spec)
        return self._embedder

    def _worker_embedder(self) -> Embedder:
        """What the background worker embeds with: an embedder given as an object is shared;
        one named by a spec (the default) gets a second instance bounded to one compute thread,
        which runs in the worker's own low-priority thread, so searches keep the other core and
        their query embedding never queues behind a batch (measured in BENCHMARKS.md)."""
        if self._embedder_given or not self.background:  # inline: the writes' own embedder
            return self.embedder
        with self._embedder_lock:
            if self._for_worker is None:
                self._for_worker = self._open_embedder(self._embedder_spec, threads=WORKER_THREADS)
        return self._for_worker

    # ---- writes -------------------------------------------------------------

    def add(self, messages: AddInput, *, user_id: str | None = None, agent_id: str | None = None,
            session_id: str | None = None, timestamp: TimeLike | None = None,
            metadata: dict[str, Any] | None = None, kind: Kind | str | None = None,
            role: str | None = None, speaker: str | None = None,
            provenance: Sequence[str] = (), subject: str | None = None, attribute: str | None = None,
            expires_at: TimeLike | None = None, ttl: float | None = None) -> Records:
        """Store a text or messages; durable and keyword-searchable when this returns, found by
        meaning once embedded (at once with ``background=False``; see :meth:`flush`).

        ``subject`` / ``attribute`` name a fact's slot ("user" / "home city"): a later fact of
        the same slot supersedes it (reconciliation). ``expires_at`` or ``ttl`` (seconds) make
        it expire: reads skip it from then on and the cleanup stage erases it."""
        records = make_records(messages, Scope(user_id, agent_id, session_id), kind=kind, timestamp=timestamp,
                           metadata=metadata, role=role, speaker=speaker, provenance=provenance)
        records = lifecycle_fields(records, subject=subject, attribute=attribute, expires_at=expires_at, ttl=ttl)
        self._write(records)
        return records

    def _write(self, records: Records) -> None:
        if self.background:
            self.store.add(records, None, None, self.pipeline.jobs_for(records))
            self.pipeline.written()
        else:
            jobs = self.pipeline.jobs_for(records, embed=False)
            self.store.add(records, self._vectors(records), self.embedder.model_id, jobs)
            self._inline(jobs, records)

    def update(self, memory_id: str, *, content: str | None = None, metadata: dict[str, Any] | None = None,
               timestamp: TimeLike | None = None, user_id: str | None = None, agent_id: str | None = None,
               session_id: str | None = None) -> MemoryRecord:
        """New content/metadata for a memory; the old version stays in history and ``as_of``."""
        if content is None and metadata is None and timestamp is None:
            raise ValidationError("update needs content, metadata or timestamp")
        old = self.store.get(memory_id, maybe_scope(user_id, agent_id, session_id))
        text = clean_text(content) if content is not None else old.content
        new = validate_record(replace(
            old, content=text, content_hash=content_hash(text), updated_at=utcnow(),
            metadata=clean_metadata(metadata) if metadata is not None else old.metadata,
            event_time=parse_datetime(timestamp) if timestamp is not None else old.event_time))
        if self.background:
            out = self.store.replace(new, None, None, self.pipeline.jobs_for([new]))
            self.pipeline.written()
            return out
        jobs = self.pipeline.jobs_for([new], embed=False)
        out = self.store.replace(new, self._vectors([new])[0], self.embedder.model_id, jobs)
        self._inline(jobs, [out])
        return out

    def supersede(self, memory_id: str, content: str, *, metadata: dict[str, Any] | None = None,
                  timestamp: TimeLike | None = None, kind: Kind | str | None = None,
                  user_id: str | None = None, agent_id: str | None = None,
                  session_id: str | None = None) -> MemoryRecord:
        """Replace an outdated memory with a new one; the old one remains readable in the past."""
        old = self.store.get(memory_id, maybe_scope(user_id, agent_id, session_id))
        new = build_records(drafts_from(content, role=old.role, speaker=old.speaker), scope=old.scope,
                            kind=Kind.parse(kind) if kind else old.kind,
                            timestamp=parse_datetime(timestamp) if timestamp is not None else None,
                            metadata=clean_metadata(metadata), provenance=(memory_id,))[0]
        new = validate_record(new)
        if self.background:
            out = self.store.supersede(memory_id, old.scope, new, None, None, self.pipeline.jobs_for([new]))
            self.pipeline.written()
            return out
        jobs = self.pipeline.jobs_for([new], embed=False)
        out = self.store.supersede(memory_id, old.scope, new, self._vectors([new])[0], self.embedder.model_id, jobs)
        self._inline(jobs, [out])
        return out

    def delete(self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None,
               session_id: str | None = None) -> None:
        """Delete a memory for good: every version of it and every memory derived from it (its
        predecessors and successors by supersession, memories whose provenance names it), with
        their history, text index entries and vectors. A tombstone (id, time, opaque owner tags)
        remains; see README "Erasure"."""
        self.store.delete(memory_id, maybe_scope(user_id, agent_id, session_id))

    def delete_scope(self, *, user_id: str | None = None, agent_id: str | None = None,
                     session_id: str | None = None) -> int:
        """Delete every memory of a scope as ``delete`` does, and keep nothing about it: no
        history row, no tombstone. Returns how many memory ids were removed."""
        return self.store.delete_scope(Scope(user_id, agent_id, session_id))

    def forget_user(self, user_id: str) -> int:
        """Erase everything of one user (``delete_scope(user_id=...)``)."""
        return self.delete_scope(user_id=user_id)

    # ---- reads --------------------------------------------------------------

    def search(self, query: str, *, user_id: str | None = None, agent_id: str | None = None,
               session_id: str | None = None, k: int | None = None, budget_tokens: int | None = None,
               filters: dict[str, Any] | None = None, kinds: Sequence[Kind | str] | None = None,
               as_of: TimeLike | None = None, valid_at: TimeLike | None = None,
               now: TimeLike | None = None, include_archived: bool = False,
               profile: bool | None = None) -> SearchResult:
        """Ranked memories for ``query`` and the packed context that fits ``budget_tokens``.

        ``valid_at`` is event time: only memories said (dated) at or before it count.
        ``as_of`` is system time: memory as it knew things then (versions current at
        that moment; later updates, supersessions and additions are not seen). ``now``
        is the moment the question is asked, which anchors "last week" or "3 days ago"
        (default: ``valid_at``, else ``as_of``, else the current time). Archived memories are
        left out unless ``include_archived``. After the read, the packed memories' recalls are
        counted (unless ``Memory(track_recalls=False)``). With a budget and a user, the user's
        profile comes first in the context when it takes at most an eighth of the budget
        (``profile=False``, or ``Memory(profile_in_context=False)``: never).
        """
        spec = self._spec(user_id, agent_id, session_id, filters, kinds, as_of, valid_at=valid_at,
                          include_archived=include_archived)
        when = now if now is not None else valid_at
        first = self.profile_in_context if profile is None else profile
        prefix = self.profile_prefix(user_id, agent_id, valid_at, budget_tokens) if first else None
        result = run_search(self.store, self.embedder, query, spec,
                            k=k, budget_tokens=budget_tokens - prefix[1] if prefix and budget_tokens else budget_tokens,
                            params=self.search_params, now=parse_datetime(when) if when is not None else None)
        if prefix:
            result = with_profile(result, prefix[0], budget_tokens)
        if self.track_recalls:
            self._recalls.add(result.packed)
        waiting = self.pipeline.unembedded(spec.scope)
        if not waiting:
            return result
        warnings = result.warnings
        if not self.pipeline.worker_running:
            warnings = (*warnings, f"{waiting} memories of this scope are not embedded yet, so only keyword "
                        "search sees them; run `engram flush` (Memory.flush()) or an `engram worker` (failed jobs: "
                        "`engram jobs --retry`)")
        return replace(result, unembedded=waiting, warnings=warnings)

    def get(self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None,
            session_id: str | None = None) -> MemoryRecord:
        return self.store.get(memory_id, maybe_scope(user_id, agent_id, session_id))

    def list(self, *, user_id: str | None = None, agent_id: str | None = None, session_id: str | None = None,
             filters: dict[str, Any] | None = None, kinds: Sequence[Kind | str] | None = None,
             as_of: TimeLike | None = None, valid_at: TimeLike | None = None,
             include_superseded: bool = False, limit: int = 100, offset: int = 0,
             newest_first: bool = False, include_archived: bool = False) -> Records:
        """A scope's memories in event-time order (``newest_first``: latest first); ``valid_at``
        (event time), ``as_of`` (system time) and ``include_archived`` as in :meth:`search`."""
        if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= INT64_MAX for n in (limit, offset)):
            raise ValidationError(f"limit and offset must be integers from 0 to {INT64_MAX}")
        spec = self._spec(user_id, agent_id, session_id, filters, kinds, as_of, include_superseded,
                          valid_at=valid_at, include_archived=include_archived)
        return self.store.list(spec, limit=limit, offset=offset, newest_first=newest_first)

    def scopes(self, *, user_id: str | None = None, agent_id: str | None = None, session_id: str | None = None,
               by_session: bool = False) -> builtins.list[ScopeSummary]:
        """The scopes that hold current memories, with counts: one entry per (user, agent), or per
        (user, agent, session) with ``by_session``; optionally only those inside a scope."""
        return self.store.scopes(maybe_scope(user_id, agent_id, session_id), by_session=by_session)

    def count(self, *, user_id: str | None = None, agent_id: str | None = None,
              session_id: str | None = None) -> int:
        return self.store.count(ReadSpec(Scope(user_id, agent_id, session_id), include_archived=False))

    def history(self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None,
                session_id: str | None = None) -> Events:
        return self.store.history(memory_id, maybe_scope(user_id, agent_id, session_id))

    # ---- plumbing -----------------------------------------------------------

    def _spec(self, user_id: str | None, agent_id: str | None, session_id: str | None,
              filters: dict[str, Any] | None, kinds: Sequence[Kind | str] | None,
              as_of: TimeLike | None, include_superseded: bool = False, *,
              valid_at: TimeLike | None = None, include_archived: bool = False) -> ReadSpec:
        if as_of is not None and include_superseded:
            raise ValidationError("as_of and include_superseded are exclusive")
        return ReadSpec(
            scope=Scope(user_id, agent_id, session_id),
            filters=parse_filters(filters),
            kinds=tuple(Kind.parse(k) for k in kinds) if kinds else None,
            as_of=parse_datetime(as_of) if as_of is not None else None,
            include_superseded=include_superseded,
            valid_at=parse_datetime(valid_at) if valid_at is not None else None,
            at=utcnow(),
            include_archived=include_archived,
        )

    def _inline(self, jobs: Sequence[JobSpec], records: Sequence[MemoryRecord]) -> None:
        """``background=False``: derive (facts, reconciliation) before the write returns."""
        if jobs:
            scopes = {Scope(r.scope.user_id, r.scope.agent_id) if r.scope.user_id or r.scope.agent_id
                      else r.scope for r in records}
            for scope in scopes:
                self.pipeline.run_inline(jobs, scope)

    def _vectors(self, records: Sequence[MemoryRecord]) -> Sequence[Keys]:
        """Each record's keys, made here (inline writes, reindex); see pipeline/embed.py."""
        return vectors_for(records, self.embedder, self.store, with_keys=self.sentence_keys)

    def close(self) -> None:
        """Drain the background queue for up to ``close_timeout`` seconds (what is left stays
        queued, durable, for the next worker), then close the store."""
        atexit.unregister(self._atexit)
        try:
            self._recalls.flush()
            self.pipeline.close(self.close_timeout)
        finally:
            self.store.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _close_at_exit(memory: Memory) -> Callable[[], None]:
    """An exit hook that closes ``memory`` if it is still alive, without keeping it alive."""
    ref = weakref.ref(memory)

    def hook() -> None:
        alive = ref()
        if alive is not None:
            alive.close()

    return hook
