"""The embedded default store: one SQLite file (WAL, FTS5, vectors as BLOBs)."""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from engramdb.core.errors import NotFoundError, StoreError
from engramdb.core.ids import new_id
from engramdb.core.jobs import EMBED_VERSION, JobSpec
from engramdb.core.models import Action, Events, HistoryEvent, MemoryRecord, Records, Scope, ScopeSummary, utcnow
from engramdb.core.ports import Facets, Keys, ReadSpec, Scored, ScoredList, Vector
from engramdb.stores import sqlite_erasure as erasure
from engramdb.stores import sqlite_jobs as queue
from engramdb.stores import sqlite_queries as queries
from engramdb.stores import sqlite_scopes
from engramdb.stores.ann_index import AnnTier, min_vectors_from_env
from engramdb.stores.keyword_tier import KeywordTier, min_rows_from_env
from engramdb.stores.sql_common import changeable, supersession, visible_to
from engramdb.stores.sqlite_conn import Connection
from engramdb.stores.sqlite_keyword import ScopeRanges
from engramdb.stores.sqlite_queue import QueueMethods, next_seq
from engramdb.stores.sqlite_restore import plan_restore
from engramdb.stores.sqlite_retention import RetentionMethods
from engramdb.stores.sqlite_sql import COLUMNS, dt, record_from_row, scope_clause, ts, visibility_clause
from engramdb.stores.sqlite_vectors import VectorReads
from engramdb.stores.vector_index import from_blob, to_blob

_INSERT = (
    "INSERT INTO memories (id, version, user_id, agent_id, session_id, kind, role, speaker, content, "
    "metadata, event_time, created_at, sys_from, sys_to, superseded_at, superseded_by, provenance, "
    "content_hash, index_hash, embed_model, embedding, embed_version, embed_seq, valid_to, subject, attribute, "
    "expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def _fts_query(terms: Sequence[str]) -> str:
    """Each term becomes an FTS5 string literal, so no query text is ever FTS syntax."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


class SQLiteStore(QueueMethods, RetentionMethods):
    """Implements :class:`engramdb.core.ports.Store` on one SQLite file."""

    # ---- writes -------------------------------------------------------------

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.conn = Connection(path)
        # big scopes also keep an HNSW index beside the file (<db>.ann/): ann_index.py
        self.ann = AnnTier(str(path), min_vectors_from_env())
        self._vector_reads = VectorReads(self.ann)
        self.keywords = KeywordTier(self.conn.read, min_rows_from_env())  # big scopes (keyword_tier.py)
        self._ranges = ScopeRanges()  # the keyword plan of small scopes in shared files (sqlite_keyword.py)
        self.embed_version = EMBED_VERSION  # recorded with the vectors written inline (set_vectors, add)

    def sibling(self) -> SQLiteStore:
        """Another connection to the same file, for a worker thread: its writes never hold up
        this connection's reads (WAL readers do not wait for writers)."""
        if str(self.path) == ":memory:":
            return self
        return SQLiteStore(self.path)

    def add(self, records: Sequence[MemoryRecord], vectors: Sequence[Keys | None] | None, model_id: str | None,
            jobs: Sequence[JobSpec] = ()) -> None:
        with self.conn.write() as db:
            seq = self._seq_for(db, vectors)
            for i, rec in enumerate(records):
                vec = None if vectors is None else vectors[i]
                self._insert(db, rec, None, vec, model_id, seq)
                self._event(db, rec.id, Action.ADD, rec.created_at, None, rec.to_dict())
            queue.enqueue(db, jobs, ts(utcnow()))

    def replace(self, record: MemoryRecord, vector: Keys | None, model_id: str | None,
                jobs: Sequence[JobSpec] = ()) -> MemoryRecord:
        with self.conn.write() as db:
            old = self._current(db, record.id, record.scope)
            new = _with_version(record, old.version + 1)
            t = ts(new.updated_at)
            db.execute("UPDATE memories SET sys_to = ? WHERE id = ? AND sys_to IS NULL", (t, record.id))
            self._insert(db, new, None, vector, model_id, self._seq_for(db, [vector]))
            self._event(db, new.id, Action.UPDATE, new.updated_at, old.to_dict(), new.to_dict())
            queue.enqueue(db, jobs, t)
            self._bump(db)
            return new

    def supersede(
        self, old_id: str, scope: Scope, new: MemoryRecord, vector: Keys | None, model_id: str | None,
        jobs: Sequence[JobSpec] = (),
    ) -> MemoryRecord:
        with self.conn.write() as db:
            old = self._current(db, old_id, scope)
            t = ts(new.created_at)
            valid_to, after = supersession(old, new)
            db.execute(
                "UPDATE memories SET sys_to = ?, superseded_at = ?, superseded_by = ?, valid_to = ? "
                "WHERE id = ? AND sys_to IS NULL",
                (t, t, new.id, ts(valid_to), old_id),
            )
            self._insert(db, new, None, vector, model_id, self._seq_for(db, [vector]))
            queue.enqueue(db, jobs, t)
            self._event(db, old_id, Action.SUPERSEDE, new.created_at, old.to_dict(), after)
            self._event(db, new.id, Action.ADD, new.created_at, None, new.to_dict())
            self._bump(db)
            return new

    def set_vectors(self, memory_ids: Sequence[str], vectors: Sequence[Keys], model_id: str) -> int:
        if len(memory_ids) != len(vectors):
            raise StoreError("set_vectors needs one vector set per memory id")
        changed = 0
        with self.conn.write() as db:
            seq = self._seq_for(db, vectors)
            for memory_id, keys in zip(memory_ids, vectors, strict=True):
                changed += db.execute(
                    "UPDATE memories SET embedding = ?, embed_model = ?, embed_version = ?, embed_seq = ? "
                    "WHERE id = ? AND sys_to IS NULL",
                    (to_blob(keys), model_id, self.embed_version, seq, memory_id),
                ).rowcount
            self._bump(db)
        return changed

    def delete(self, memory_id: str, scope: Scope | None = None) -> None:
        with self.conn.write() as db:
            rec = self._latest(db, memory_id, scope)
            gone = erasure.closure(db, [rec.id])
            rowids = erasure.erase(db, gone)
            queue.forget(db, gone)
            self._bump(db)
        self.conn.checkpoint()
        self.ann.erased(rowids)

    def delete_scope(self, scope: Scope) -> int:
        where, params = scope_clause(scope)
        with self.conn.write() as db:
            ids = [r[0] for r in db.execute(f"SELECT DISTINCT m.id FROM memories m WHERE {where}", params)]
            gone = erasure.closure(db, ids)
            rowids = erasure.erase(db, gone, untombed=scope)
            queue.forget(db, gone)
            erasure.forget_tombstones(db, scope)
            self._bump(db)
        self.conn.checkpoint()
        self.ann.erased(rowids)
        return len(gone)

    def restore(
        self,
        records: Sequence[MemoryRecord],
        events: Sequence[HistoryEvent],
        vectors: Sequence[Keys | None] | None,
        model_id: str | None,
        jobs: Sequence[JobSpec] = (),
    ) -> int:
        """See sqlite_restore.py for the rules; everything is checked before anything is written."""
        with self.conn.write() as db:
            erasure.refuse_erased(db, [r.id for r in records])
            plan = plan_restore(db, records, events)
            for close in plan.closes:
                db.execute(
                    "UPDATE memories SET sys_to = ?, superseded_at = coalesce(?, superseded_at), "
                    "superseded_by = coalesce(?, superseded_by), valid_to = coalesce(valid_to, ?) "
                    "WHERE id = ? AND version = ? AND sys_to IS NULL",
                    (close.sys_to, close.superseded_at, close.superseded_by, close.valid_to, close.memory_id,
                     close.version),
                )
            seq = self._seq_for(db, vectors)
            written = set()
            for i, rec, sys_to in plan.inserts:
                self._insert(db, rec, sys_to, None if vectors is None else vectors[i], model_id, seq)
                written.add(rec.id)
            queue.enqueue(db, [j for j in jobs if j.memory_id in written], ts(utcnow()))
            db.executemany(
                "INSERT INTO history (id, memory_id, action, at, before, after) VALUES (?,?,?,?,?,?)",
                [(ev.id, ev.memory_id, ev.action.value, ts(ev.at), _json(ev.before), _json(ev.after))
                 for ev in plan.events if ev.action is not Action.DELETE],
            )
            for ev in plan.events:
                if ev.action is Action.DELETE:
                    erasure.restore_tombstone(db, ev)
            self._bump(db)
        return len(plan.inserts)

    # ---- reads --------------------------------------------------------------

    def get(self, memory_id: str, scope: Scope | None = None) -> MemoryRecord:
        with self.conn.read() as db:
            return self._latest(db, memory_id, scope)

    def list(self, spec: ReadSpec, *, limit: int = 100, offset: int = 0, newest_first: bool = False) -> Records:
        where, params = visibility_clause(spec)
        order = "m.event_time DESC, m.id DESC, m.version DESC" if newest_first else "m.event_time, m.id, m.version"
        sql = f"SELECT {COLUMNS} FROM memories m WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
        with self.conn.read() as db:
            return [record_from_row(r) for r in db.execute(sql, [*params, limit, offset])]

    def count(self, spec: ReadSpec) -> int:
        where, params = visibility_clause(spec)
        with self.conn.read() as db:
            return int(db.execute(f"SELECT count(*) FROM memories m WHERE {where}", params).fetchone()[0])

    def history(self, memory_id: str, scope: Scope | None = None) -> Events:
        with self.conn.read() as db:
            exists = db.execute("SELECT 1 FROM memories WHERE id = ? LIMIT 1", (memory_id,)).fetchone()
            if not exists:
                # a deleted memory leaves only its tombstone, shown to its owner's scope (or no scope)
                tombs = erasure.tombstones(db, memory_id, scope)
                if not tombs:
                    raise NotFoundError(f"no memory with id {memory_id!r}")
                return tombs
            self._latest(db, memory_id, scope)
            rows = db.execute(
                "SELECT id, memory_id, action, at, before, after FROM history WHERE memory_id = ? ORDER BY seq",
                (memory_id,),
            ).fetchall()
        return [_event_from_row(r) for r in rows]

    def text_search(self, spec: ReadSpec, terms: Sequence[str], limit: int) -> ScoredList:
        if not terms or limit <= 0:
            return []
        try:
            with self.conn.read() as db:
                found = self.keywords.turns(db, spec, terms, limit)
                if found is not None:
                    return found
                return queries.rank_text(db, _fts_query(terms), *visibility_clause(spec), limit,
                                         ranges=self._ranges.ranges(db, spec.scope))
        except sqlite3.OperationalError as exc:
            raise StoreError(f"full-text search failed: {exc}") from exc

    def window_search(self, spec: ReadSpec, terms: Sequence[str], limit: int) -> ScoredList:
        if not terms or limit <= 0:
            return []
        where, params = visibility_clause(spec)
        try:
            with self.conn.read() as db:
                found = self.keywords.windows(db, spec, terms, limit)
                if found is not None:
                    return found
                windows = queries.rank_text(db, _fts_query(terms), where, params, limit, table="windows_fts",
                                            ranges=self._ranges.ranges(db, spec.scope))
                members = queries.window_members(db, [w.ref for w in windows])
                best: dict[int, float] = {}
                for w in windows:
                    for ref in members.get(w.ref, ()):
                        if w.score > best.get(ref, float("-inf")):
                            best[ref] = w.score
                visible = queries.visible(db, list(best), where, params)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"full-text search failed: {exc}") from exc
        ranked = sorted((ref for ref in best if ref in visible), key=lambda ref: (-best[ref], ref))
        return [Scored(ref, best[ref]) for ref in ranked]

    def adjacent(self, refs: Sequence[int], spec: ReadSpec, width: int) -> dict[int, builtins.list[tuple[int, int]]]:
        if not refs or width <= 0:
            return {}
        with self.conn.read() as db:
            return queries.adjacent(db, refs, *visibility_clause(spec), width)

    def facets(self, refs: Sequence[int]) -> dict[int, Facets]:
        with self.conn.read() as db:
            known, left = self.keywords.facets(db, refs)  # big scopes hold theirs (keyword_tier.py)
            return known | queries.facets(db, left) if left else known

    def scopes(self, scope: Scope | None = None, *, by_session: bool = False) -> builtins.list[ScopeSummary]:
        with self.conn.read() as db:
            return sqlite_scopes.scopes(db, scope, by_session)

    def embed_models(self, spec: ReadSpec) -> dict[str | None, int]:
        with self.conn.read() as db:
            return sqlite_scopes.embed_models(db, spec)

    def vector_search(self, spec: ReadSpec, query: Vector, model_id: str, limit: int) -> ScoredList:
        with self.conn.read() as db:
            return self._vector_reads.turns(db, spec, query, model_id, limit)

    def key_search(self, spec: ReadSpec, refs: Sequence[int], query: Vector, model_id: str) -> ScoredList:
        with self.conn.read() as db:
            return self._vector_reads.keys(db, spec, refs, query, model_id)

    def window_vector_search(self, spec: ReadSpec, query: Vector, model_id: str, limit: int) -> ScoredList:
        with self.conn.read() as db:
            return self._vector_reads.windows(db, spec, query, model_id, limit)

    def fetch(self, refs: Sequence[int], spec: ReadSpec | None = None) -> dict[int, MemoryRecord]:
        if not refs:
            return {}
        # rowids are reused after a delete, so re-check visibility rather than trust the ref
        where, params = visibility_clause(spec) if spec is not None else ("1", [])
        with self.conn.read() as db:
            rows = db.execute(
                f"SELECT {COLUMNS} FROM memories m WHERE m.rowid IN ({','.join('?' * len(refs))}) AND {where}",
                [*refs, *params],
            ).fetchall()
        return {int(r[0]): record_from_row(r) for r in rows}

    def vectors_for_hashes(self, index_hashes: Sequence[str], model_id: str, dim: int,
                           version: int = 1) -> dict[str, Keys]:
        wanted = list(dict.fromkeys(index_hashes))
        out: dict[str, Keys] = {}
        with self.conn.read() as db:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                # one row per hash (the oldest): a common short text may be stored thousands of times
                for index_hash, blob in db.execute(
                    "SELECT index_hash, embedding FROM memories WHERE rowid IN (SELECT min(rowid) FROM memories "
                    f"WHERE index_hash IN ({','.join('?' * len(chunk))}) AND embed_model = ? "
                    "AND embedding IS NOT NULL AND coalesce(embed_version, 1) = ? GROUP BY index_hash)",
                    [*chunk, model_id, version],
                ):
                    keys = from_blob(blob, dim)
                    if keys is not None:
                        out[index_hash] = keys.copy()
        return out

    def export(self, scope: Scope | None = None) -> Iterator[dict[str, Any]]:
        where, params = scope_clause(scope) if scope is not None else ("1", [])
        with self.conn.read() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM memories m WHERE {where} ORDER BY m.id, m.version",
                              params).fetchall()
            ids = sorted({r[1] for r in rows})
            events = []
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                events += db.execute(
                    "SELECT id, memory_id, action, at, before, after FROM history "
                    f"WHERE memory_id IN ({','.join('?' * len(chunk))}) ORDER BY seq", chunk
                ).fetchall()
            tombs = erasure.export_tombstones(db, scope)
        for r in rows:
            yield {"type": "record", **record_from_row(r).to_dict()}
        for e in events:
            yield {"type": "event", **_event_from_row(e).to_dict()}
        for t in tombs:
            yield {"type": "event", **t.to_dict()}

    def close(self) -> None:
        self.conn.close()

    # ---- internals ----------------------------------------------------------

    def _insert(self, db: sqlite3.Connection, rec: MemoryRecord, sys_to: float | None,
                vector: Keys | None, model_id: str | None, seq: int | None) -> None:
        s = rec.scope
        db.execute(_INSERT, (
            rec.id, rec.version, s.user_id, s.agent_id, s.session_id, rec.kind.value, rec.role, rec.speaker,
            rec.content, json.dumps(rec.metadata, ensure_ascii=False), ts(rec.event_time), ts(rec.created_at),
            ts(rec.updated_at), sys_to, ts(rec.superseded_at) if rec.superseded_at else None, rec.superseded_by,
            json.dumps(list(rec.provenance)), rec.content_hash, rec.index_hash,
            model_id if vector is not None else None, to_blob(vector) if vector is not None else None,
            self.embed_version if vector is not None else None, seq if vector is not None else None,
            ts(rec.valid_to) if rec.valid_to else None, rec.subject, rec.attribute,
            ts(rec.expires_at) if rec.expires_at else None,
        ))

    def _seq_for(self, db: sqlite3.Connection, vectors: Sequence[Keys | None] | None) -> int | None:
        """The embed sequence number of a write that stores vectors (one per transaction)."""
        if vectors is None or all(v is None for v in vectors):
            return None
        return next_seq(db)

    def _event(self, db: sqlite3.Connection, memory_id: str, action: Action, at: Any,
               before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        db.execute(
            "INSERT INTO history (id, memory_id, action, at, before, after) VALUES (?,?,?,?,?,?)",
            (new_id(), memory_id, action.value, ts(at), _json(before), _json(after)),
        )

    def _bump(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'mutation_seq'")

    def _latest(self, db: sqlite3.Connection, memory_id: str, scope: Scope | None) -> MemoryRecord:
        row = db.execute(
            f"SELECT {COLUMNS} FROM memories m WHERE m.id = ? ORDER BY m.version DESC LIMIT 1", (memory_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return visible_to(record_from_row(row), scope)

    def _current(self, db: sqlite3.Connection, memory_id: str, scope: Scope) -> MemoryRecord:
        return changeable(self._latest(db, memory_id, scope))


def _with_version(rec: MemoryRecord, version: int) -> MemoryRecord:
    from dataclasses import replace

    return replace(rec, version=version)




def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _event_from_row(row: tuple[Any, ...]) -> HistoryEvent:
    eid, mid, action, at, before, after = row
    when = dt(at)
    assert when is not None
    return HistoryEvent(eid, mid, Action(action), when, json.loads(before) if before else None,
                        json.loads(after) if after else None)
