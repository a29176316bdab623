"""The bulk part of the Memory facade: add_many, reindex, export and import."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

from engramdb.core.jobs import JobSpec
from engramdb.core.models import MemoryRecord, Records, Scope
from engramdb.core.ports import Embedder, Keys, ReadSpec, Store
from engramdb.engine.exchange import check_owners, parse_export
from engramdb.engine.ingest import Batch
from engramdb.engine.inputs import make_records, maybe_scope
from engramdb.pipeline.runner import Pipeline

BULK_GROUP = 64  # batches (sessions) embedded together by add_many
REINDEX_BATCH = 256


class BulkFacade:
    """Mixed into Memory, which provides what is declared here."""

    store: Store
    pipeline: Pipeline

    @property
    def background(self) -> bool:  # Memory's
        raise NotImplementedError

    @property
    def embedder(self) -> Embedder:  # Memory's
        raise NotImplementedError

    _write: Callable[[Records], None]
    _vectors: Callable[[Sequence[MemoryRecord]], Sequence[Keys]]
    _inline: Callable[[Sequence[JobSpec], Sequence[MemoryRecord]], None]

    def add_many(self, batches: Sequence[Batch], *,
                 on_written: Callable[[Batch, Records], None] | None = None) -> int:
        """Bulk import: like one ``add`` per batch (one transaction each), but every batch is
        validated before anything is written, and texts are embedded in large length-sorted
        groups across batches (in the background, or here with ``background=False``)."""
        prepared = [(b, make_records(b.messages, Scope(b.user_id, b.agent_id, b.session_id),
                                 metadata=b.metadata or None)) for b in batches]
        written = 0
        if self.background:
            for batch, recs in prepared:
                self._write(recs)
                written += len(recs)
                if on_written is not None:
                    on_written(batch, recs)
            return written
        for start in range(0, len(prepared), BULK_GROUP):
            group = prepared[start:start + BULK_GROUP]
            flat = [r for _, recs in group for r in recs]
            vectors = self._vectors(flat)
            offset = 0
            for batch, recs in group:
                jobs = self.pipeline.jobs_for(recs, embed=False)
                self.store.add(recs, vectors[offset:offset + len(recs)], self.embedder.model_id, jobs)
                self._inline(jobs, recs)
                offset += len(recs)
                written += len(recs)
                if on_written is not None:
                    on_written(batch, recs)
        return written

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

    def export_jsonl(self, out: IO[str], *, user_id: str | None = None, agent_id: str | None = None,
                     session_id: str | None = None) -> int:
        """Write every record version and history event as JSON lines; returns lines written."""
        n = 0
        for item in self.export_items(user_id=user_id, agent_id=agent_id, session_id=session_id):
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
            n += 1
        return n

    def export_items(self, *, user_id: str | None = None, agent_id: str | None = None,
                     session_id: str | None = None) -> Iterator[dict[str, Any]]:
        """The lines of :meth:`export_jsonl`, as dicts (the HTTP API streams them)."""
        return iter(self.store.export(maybe_scope(user_id, agent_id, session_id)))

    def import_jsonl(self, lines: str | Iterable[str], *, source: str = "<input>",
                     allow: Callable[[str | None, str | None], None] | None = None) -> int:
        """Load an export (all or nothing): a text, an open file or its lines, split on "\\n"
        only (see core/jsonl.py). A line never changes a memory of another scope (the rules
        are in Store.restore). ``allow(user_id, agent_id)`` is called for the owner of every
        line before anything is written and may raise (the server checks a key's grant).
        Returns the record versions written."""
        records, events = parse_export(lines, source)
        if allow is not None:
            check_owners(records, events, allow)
        if self.background:
            n = self.store.restore(records, events, None, None, self.pipeline.jobs_for(records, derive=False))
            self.pipeline.written()
            return n
        return self.store.restore(records, events, self._vectors(records), self.embedder.model_id)
