"""The Memory facade: the one synchronous entry to engramdb's core."""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from engramdb.core.bounds import INT64_MAX
from engramdb.core.embedcheck import checked_matrix
from engramdb.core.errors import ValidationError
from engramdb.core.filters import Cond, Group, Node, parse_filters
from engramdb.core.jsonl import numbered_lines
from engramdb.core.models import (
    Events,
    HistoryEvent,
    Kind,
    MemoryRecord,
    Records,
    Scope,
    ScopeSummary,
    SearchResult,
    content_hash,
    event_from_dict,
    record_from_dict,
    utcnow,
)
from engramdb.core.ports import Embedder, Keys, ReadSpec, Store
from engramdb.core.timeparse import parse_datetime
from engramdb.engine.ingest import AddInput, Batch, build_records, clean_metadata, clean_text, drafts_from
from engramdb.engine.keys import sentence_keys
from engramdb.engine.limits import validate_record, validate_snapshot
from engramdb.retrieval.search import SearchParams
from engramdb.retrieval.search import search as run_search

BULK_GROUP = 64  # batches (sessions) embedded together by add_many
REINDEX_BATCH = 256
TimeLike = datetime | str | int | float


class Memory:
    """Long-term memory for an agent.

    ``Memory()`` opens the embedded default (a SQLite file in the user data
    dir, or ``$ENGRAM_DB``) with the packaged local embedding model.
    ``sentence_keys=False`` embeds each memory once, as a whole: writes of long
    texts get several times cheaper, and search loses its sentence-level list
    for what is written that way (see BENCHMARKS.md for what that costs).
    ``create=False`` opens an existing database only (NotFoundError otherwise),
    so a mistyped path is an error rather than a new, empty file.

    Two times: every memory has an *event time* (when it was said or was true:
    the message's timestamp) and *system times* (when engramdb learnt it, changed
    it, superseded it). Reads take ``valid_at`` (event time: only what had been
    said by then counts) and ``as_of`` (system time: memory as it knew things then,
    before later updates and supersessions).
    """

    def __init__(self, path_or_url: str | Path | None = None, *, embedder: Embedder | str | None = None,
                 store: Store | None = None, search_params: SearchParams | None = None,
                 sentence_keys: bool = True, create: bool = True) -> None:
        from engramdb.registry import open_embedder, open_store

        self.store: Store = store if store is not None else open_store(path_or_url, must_exist=not create)
        self._embedder: Embedder | None = None if embedder is None or isinstance(embedder, str) else embedder
        self._embedder_spec = embedder if isinstance(embedder, str) else None
        self._open_embedder = open_embedder
        self.search_params = search_params or SearchParams()
        self.sentence_keys = sentence_keys

    @property
    def embedder(self) -> Embedder:
        """Loaded on first use, so reads that need no vectors never load a model."""
        if self._embedder is None:
            self._embedder = self._open_embedder(self._embedder_spec)
        return self._embedder

    # ---- writes -------------------------------------------------------------

    def add(self, messages: AddInput, *, user_id: str | None = None, agent_id: str | None = None,
            session_id: str | None = None, timestamp: TimeLike | None = None,
            metadata: dict[str, Any] | None = None, kind: Kind | str | None = None,
            role: str | None = None, speaker: str | None = None,
            provenance: Sequence[str] = ()) -> Records:
        """Store a text or messages; they are durable and searchable when this returns."""
        records = _records(messages, Scope(user_id, agent_id, session_id), kind=kind, timestamp=timestamp,
                           metadata=metadata, role=role, speaker=speaker, provenance=provenance)
        self.store.add(records, self._vectors(records), self.embedder.model_id)
        return records

    def add_many(self, batches: Sequence[Batch], *,
                 on_written: Callable[[Batch, Records], None] | None = None) -> int:
        """Bulk import: like one ``add`` per batch (one transaction each), but every batch is
        validated before anything is written, and texts are embedded in large length-sorted
        groups across batches (several times faster than session-sized calls)."""
        prepared = [(b, _records(b.messages, Scope(b.user_id, b.agent_id, b.session_id),
                                 metadata=b.metadata or None)) for b in batches]
        written = 0
        for start in range(0, len(prepared), BULK_GROUP):
            group = prepared[start:start + BULK_GROUP]
            flat = [r for _, recs in group for r in recs]
            vectors = self._vectors(flat)
            offset = 0
            for batch, recs in group:
                self.store.add(recs, vectors[offset:offset + len(recs)], self.embedder.model_id)
                offset += len(recs)
                written += len(recs)
                if on_written is not None:
                    on_written(batch, recs)
        return written

    def update(self, memory_id: str, *, content: str | None = None, metadata: dict[str, Any] | None = None,
               timestamp: TimeLike | None = None, user_id: str | None = None, agent_id: str | None = None,
               session_id: str | None = None) -> MemoryRecord:
        """New content/metadata for a memory; the old version stays in history and ``as_of``."""
        if content is None and metadata is None and timestamp is None:
            raise ValidationError("update needs content, metadata or timestamp")
        old = self.store.get(memory_id, _maybe_scope(user_id, agent_id, session_id))
        text = clean_text(content) if content is not None else old.content
        new = validate_record(replace(
            old, content=text, content_hash=content_hash(text), updated_at=utcnow(),
            metadata=clean_metadata(metadata) if metadata is not None else old.metadata,
            event_time=parse_datetime(timestamp) if timestamp is not None else old.event_time))
        return self.store.replace(new, self._vectors([new])[0], self.embedder.model_id)

    def supersede(self, memory_id: str, content: str, *, metadata: dict[str, Any] | None = None,
                  timestamp: TimeLike | None = None, kind: Kind | str | None = None,
                  user_id: str | None = None, agent_id: str | None = None,
                  session_id: str | None = None) -> MemoryRecord:
        """Replace an outdated memory with a new one; the old one remains readable in the past."""
        old = self.store.get(memory_id, _maybe_scope(user_id, agent_id, session_id))
        new = build_records(drafts_from(content, role=old.role, speaker=old.speaker), scope=old.scope,
                            kind=Kind.parse(kind) if kind else old.kind,
                            timestamp=parse_datetime(timestamp) if timestamp is not None else None,
                            metadata=clean_metadata(metadata), provenance=(memory_id,))[0]
        new = validate_record(new)
        return self.store.supersede(memory_id, old.scope, new, self._vectors([new])[0], self.embedder.model_id)

    def reindex(self, *, user_id: str | None = None, agent_id: str | None = None, session_id: str | None = None,
                on_batch: Callable[[int], None] | None = None) -> int:
        """Give every current memory of a scope the vectors of this Memory's embedder: after a
        change of embedder model, or to add sentence keys to memories written before them (or
        drop them, with ``sentence_keys=False``). Memories whose stored vectors already fit are
        not embedded again. One transaction per batch of 256; returns how many memories it set."""
        spec = ReadSpec(Scope(user_id, agent_id, session_id))
        offset = done = 0
        while records := self.store.list(spec, limit=REINDEX_BATCH, offset=offset):
            offset += len(records)
            done += self.store.set_vectors([r.id for r in records], self._vectors(records), self.embedder.model_id)
            if on_batch is not None:
                on_batch(done)
        return done

    def delete(self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None,
               session_id: str | None = None) -> None:
        """Delete a memory for good: every version of it and every memory derived from it (its
        predecessors and successors by supersession, memories whose provenance names it), with
        their history, text index entries and vectors. A tombstone (id, time, opaque owner tags)
        remains; see README "Erasure"."""
        self.store.delete(memory_id, _maybe_scope(user_id, agent_id, session_id))

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
               now: TimeLike | None = None) -> SearchResult:
        """Ranked memories for ``query`` and the packed context that fits ``budget_tokens``.

        ``valid_at`` is event time: only memories said (dated) at or before it count.
        ``as_of`` is system time: memory as it knew things then (versions current at
        that moment; later updates, supersessions and additions are not seen). ``now``
        is the moment the question is asked, which anchors "last week" or "3 days ago"
        (default: ``valid_at``, else ``as_of``, else the current time).
        """
        spec = self._spec(user_id, agent_id, session_id, filters, kinds, as_of, valid_at=valid_at)
        when = now if now is not None else valid_at
        return run_search(self.store, self.embedder, query, spec, k=k, budget_tokens=budget_tokens,
                          params=self.search_params, now=parse_datetime(when) if when is not None else None)

    def get(self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None,
            session_id: str | None = None) -> MemoryRecord:
        return self.store.get(memory_id, _maybe_scope(user_id, agent_id, session_id))

    def list(self, *, user_id: str | None = None, agent_id: str | None = None, session_id: str | None = None,
             filters: dict[str, Any] | None = None, kinds: Sequence[Kind | str] | None = None,
             as_of: TimeLike | None = None, valid_at: TimeLike | None = None,
             include_superseded: bool = False, limit: int = 100, offset: int = 0) -> Records:
        """A scope's memories in event-time order; ``valid_at`` (event time) and ``as_of``
        (system time) as in :meth:`search`."""
        if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= INT64_MAX for n in (limit, offset)):
            raise ValidationError(f"limit and offset must be integers from 0 to {INT64_MAX}")
        spec = self._spec(user_id, agent_id, session_id, filters, kinds, as_of, include_superseded,
                          valid_at=valid_at)
        return self.store.list(spec, limit=limit, offset=offset)

    def scopes(self, *, user_id: str | None = None, agent_id: str | None = None, session_id: str | None = None,
               by_session: bool = False) -> builtins.list[ScopeSummary]:
        """The scopes that hold current memories, with counts: one entry per (user, agent), or per
        (user, agent, session) with ``by_session``; optionally only those inside a scope."""
        return self.store.scopes(_maybe_scope(user_id, agent_id, session_id), by_session=by_session)

    def count(self, *, user_id: str | None = None, agent_id: str | None = None,
              session_id: str | None = None) -> int:
        return self.store.count(ReadSpec(Scope(user_id, agent_id, session_id)))

    def history(self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None,
                session_id: str | None = None) -> Events:
        return self.store.history(memory_id, _maybe_scope(user_id, agent_id, session_id))

    # ---- export / import ----------------------------------------------------

    def export_jsonl(self, out: IO[str], *, user_id: str | None = None, agent_id: str | None = None,
                     session_id: str | None = None) -> int:
        """Write every record version and history event as JSON lines; returns lines written."""
        scope = _maybe_scope(user_id, agent_id, session_id)
        n = 0
        for item in self.store.export(scope):
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
            n += 1
        return n

    def import_jsonl(self, lines: str | Iterable[str], *, source: str = "<input>") -> int:
        """Load an export (all or nothing): a text, an open file or its lines, split on "\\n"
        only (see core/jsonl.py). A line never changes a memory of another scope (the rules
        are in Store.restore). Returns the record versions written."""
        records, events = parse_export(lines, source)
        return self.store.restore(records, events, self._vectors(records), self.embedder.model_id)

    # ---- plumbing -----------------------------------------------------------

    def _spec(self, user_id: str | None, agent_id: str | None, session_id: str | None,
              filters: dict[str, Any] | None, kinds: Sequence[Kind | str] | None,
              as_of: TimeLike | None, include_superseded: bool = False, *,
              valid_at: TimeLike | None = None) -> ReadSpec:
        if as_of is not None and include_superseded:
            raise ValidationError("as_of and include_superseded are exclusive")
        return ReadSpec(
            scope=Scope(user_id, agent_id, session_id),
            filters=_said_by(parse_filters(filters), valid_at),
            kinds=tuple(Kind.parse(k) for k in kinds) if kinds else None,
            as_of=parse_datetime(as_of) if as_of is not None else None,
            include_superseded=include_superseded,
        )

    def _vectors(self, records: Sequence[MemoryRecord]) -> Sequence[Keys]:
        """Each record's keys (its whole text, then its sentences), reusing the stored keys of
        identical text; everything new is embedded in one call."""
        out: builtins.list[Keys | None] = []
        todo: dict[str, builtins.list[int]] = {}
        texts: dict[str, builtins.list[str]] = {}
        dim = self.embedder.dim
        for i, rec in enumerate(records):
            keys = sentence_keys(rec.content) if self.sentence_keys else []
            known = self.store.vector_for_hash(rec.index_hash, self.embedder.model_id, dim)
            if known is not None and (known.shape[0] == 1 + len(keys) or not self.sentence_keys):
                out.append(known[:1 + len(keys)])
                continue
            out.append(None)
            todo.setdefault(rec.index_hash, []).append(i)
            texts[rec.index_hash] = [rec.index_text, *keys]
        if todo:
            # one call: the embedder sorts by length and batches internally
            flat = [t for h in todo for t in texts[h]]
            vecs = checked_matrix(self.embedder.embed_documents(flat), len(flat), dim, self.embedder.model_id)
            start = 0
            for h, idx in todo.items():
                end = start + len(texts[h])
                for i in idx:
                    out[i] = vecs[start:end]
                start = end
        done = [k for k in out if k is not None]
        assert len(done) == len(records)  # every record was either known or embedded
        return done

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _records(messages: AddInput, scope: Scope, *, kind: Kind | str | None = None,
             timestamp: TimeLike | None = None, metadata: dict[str, Any] | None = None,
             role: str | None = None, speaker: str | None = None,
             provenance: Sequence[str] = ()) -> Records:
    is_text = isinstance(messages, (str, bytes))
    the_kind = Kind.parse(kind) if kind is not None else (Kind.NOTE if is_text else Kind.TURN)
    drafts = drafts_from(messages, role=role, speaker=speaker)
    when = parse_datetime(timestamp) if timestamp is not None else None
    return [validate_record(r) for r in build_records(
        drafts, scope=scope, kind=the_kind, timestamp=when, metadata=clean_metadata(metadata),
        provenance=provenance)]


def _said_by(filters: Node | None, valid_at: TimeLike | None) -> Node | None:
    """Event time as a filter every store already compiles: event_time <= valid_at."""
    if valid_at is None:
        return filters
    bound = Cond("event_time", "lte", parse_datetime(valid_at).timestamp())
    return bound if filters is None else Group("and", (filters, bound))


def _maybe_scope(user_id: str | None, agent_id: str | None, session_id: str | None) -> Scope | None:
    if user_id is None and agent_id is None and session_id is None:
        return None
    return Scope(user_id, agent_id, session_id)


def parse_export(lines: str | Iterable[str], source: str) -> tuple[list[MemoryRecord], list[HistoryEvent]]:
    """Records and events of an export (a text, or its lines); lines end at "\\n" only."""
    records: list[MemoryRecord] = []
    events: list[HistoryEvent] = []
    from engramdb.core.errors import ImportFormatError

    for lineno, line in numbered_lines(lines):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValidationError("each line must be a JSON object")
            kind = item.pop("type", None)
            if kind == "record":
                records.append(validate_record(record_from_dict(item)))
            elif kind == "event":
                events.append(_event(item))
            else:
                raise ValidationError(f"unknown line type {kind!r} (expected 'record' or 'event')")
        except (json.JSONDecodeError, RecursionError, ValidationError) as exc:
            raise ImportFormatError(str(exc), path=source, line=lineno) from None
    return records, events


def _event(item: dict[str, Any]) -> HistoryEvent:
    event = event_from_dict(item)
    validate_snapshot(event.before, "event 'before'")
    validate_snapshot(event.after, "event 'after'")
    return event
