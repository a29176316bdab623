"""PostgreSQL + pgvector store (issue 13): the same Store port, for many processes and hosts.

Selected by URL (``Memory("postgresql://...")``, ``--db``, ``ENGRAM_DB``). The schema is in
sql/postgresql (layout notes at the top of 0001_init.sql); connections, transactions and
migrations in pg_conn.py; SQL helpers in pg_sql.py (visibility, filters) and pg_records.py
(row writes); erasure in pg_erasure.py. Search (pg_search.py: keyword BM25 with SQLite's
tokens, episode windows, pgvector), the job queue (pg_queue.py) and retention
(pg_retention.py) are mixins of their own modules.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from engramdb.core.errors import NotFoundError, StoreError
from engramdb.core.jobs import EMBED_VERSION, JobSpec
from engramdb.core.models import Action, Events, HistoryEvent, MemoryRecord, Records, Scope, ScopeSummary, utcnow
from engramdb.core.ports import Keys, ReadSpec
from engramdb.stores import pg_erasure as erasure
from engramdb.stores import pg_records as rows
from engramdb.stores import pg_restore
from engramdb.stores.pg_conn import Connection, Cursor
from engramdb.stores.pg_queue import PgQueueMethods
from engramdb.stores.pg_retention import PgRetentionMethods
from engramdb.stores.pg_search import PgSearchMethods
from engramdb.stores.pg_sql import COLUMNS, scope_clause, visibility_clause
from engramdb.stores.sql_common import dt, record_from_row, supersession, ts


class PostgresStore(PgSearchMethods, PgQueueMethods, PgRetentionMethods):
    """Implements :class:`engramdb.core.ports.Store` on one PostgreSQL database."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.conn = Connection(url, create=create)
        self.embed_version = EMBED_VERSION

    def sibling(self) -> PostgresStore:
        """The pool serves every thread: a worker shares this store."""
        return self

    def close(self) -> None:
        self.conn.close()

    # ---- writes -------------------------------------------------------------

    def add(self, records: Sequence[MemoryRecord], vectors: Sequence[Keys | None] | None, model_id: str | None,
            jobs: Sequence[JobSpec] = ()) -> None:
        with self.conn.write() as cur:
            seq = self._seq_for(cur, vectors)
            refs = rows.insert_records(cur, records, vectors, model_id=model_id, seq=seq,
                                       embed_version=self.embed_version)
            rows.add_events(cur, records)
            self._index_text(cur, refs)  # one statement for the batch: its windows are built once
            self._enqueue_jobs(cur, jobs, ts(utcnow()))

    def replace(self, record: MemoryRecord, vector: Keys | None, model_id: str | None,
                jobs: Sequence[JobSpec] = ()) -> MemoryRecord:
        with self.conn.write() as cur:
            old = rows.current(cur, record.id, record.scope)
            new = replace(record, version=old.version + 1)
            t = ts(new.updated_at)
            cur.execute("UPDATE memories SET sys_to = %s WHERE id = %s AND sys_to IS NULL", (t, record.id))
            self._insert(cur, new, vector, model_id, self._seq_for(cur, [vector]))
            rows.event(cur, new.id, Action.UPDATE, new.updated_at, old.to_dict(), new.to_dict())
            self._enqueue_jobs(cur, jobs, t)
            rows.bump(cur)
            return new

    def supersede(
        self, old_id: str, scope: Scope, new: MemoryRecord, vector: Keys | None, model_id: str | None,
        jobs: Sequence[JobSpec] = (),
    ) -> MemoryRecord:
        with self.conn.write() as cur:
            old = rows.current(cur, old_id, scope)
            t = ts(new.created_at)
            valid_to, after = supersession(old, new)
            cur.execute(
                "UPDATE memories SET sys_to = %s, superseded_at = %s, superseded_by = %s, valid_to = %s "
                "WHERE id = %s AND sys_to IS NULL",
                (t, t, new.id, ts(valid_to), old_id),
            )
            self._insert(cur, new, vector, model_id, self._seq_for(cur, [vector]))
            self._enqueue_jobs(cur, jobs, t)
            rows.event(cur, old_id, Action.SUPERSEDE, new.created_at, old.to_dict(), after)
            rows.event(cur, new.id, Action.ADD, new.created_at, None, new.to_dict())
            rows.bump(cur)
            return new

    def set_vectors(self, memory_ids: Sequence[str], vectors: Sequence[Keys], model_id: str) -> int:
        if len(memory_ids) != len(vectors):
            raise StoreError("set_vectors needs one vector set per memory id")
        changed = 0
        with self.conn.write() as cur:
            seq = self._seq_for(cur, vectors)
            assert seq is not None or not vectors
            for memory_id, keys in zip(memory_ids, vectors, strict=True):
                cur.execute("SELECT ref FROM memories WHERE id = %s AND sys_to IS NULL", (memory_id,))
                refs = [int(r[0]) for r in cur.fetchall()]
                if refs and seq is not None:
                    rows.replace_vectors(cur, refs, keys, model_id, seq=seq, embed_version=self.embed_version)
                changed += len(refs)
            rows.bump(cur)
        return changed

    def delete(self, memory_id: str, scope: Scope | None = None) -> None:
        with self.conn.write() as cur:
            rec = rows.latest(cur, memory_id, scope)
            self._erase(cur, erasure.closure(cur, [rec.id]))

    def delete_scope(self, scope: Scope) -> int:
        where, params = scope_clause(scope)
        with self.conn.write() as cur:
            cur.execute(f"SELECT DISTINCT m.id FROM memories m WHERE {where}", params)
            gone = erasure.closure(cur, [r[0] for r in cur.fetchall()])
            self._erase(cur, gone, untombed=scope)
            erasure.forget_tombstones(cur, scope)
        return len(gone)

    def erase(self, memory_ids: Sequence[str]) -> builtins.list[str]:
        with self.conn.write() as cur:
            cur.execute("SELECT DISTINCT id FROM memories WHERE id = ANY(%s)", (list(memory_ids),))
            present = {r[0] for r in cur.fetchall()}
            gone = erasure.closure(cur, [i for i in dict.fromkeys(memory_ids) if i in present])
            self._erase(cur, gone)
        return gone

    def _erase(self, cur: Cursor, ids: Sequence[str], *, untombed: Scope | None = None) -> None:
        erasure.erase(cur, ids, untombed=untombed)
        self._forget_jobs(cur, ids)
        rows.bump(cur)

    def restore(
        self,
        records: Sequence[MemoryRecord],
        events: Sequence[HistoryEvent],
        vectors: Sequence[Keys | None] | None,
        model_id: str | None,
        jobs: Sequence[JobSpec] = (),
    ) -> int:
        """See restore_plan.py for the rules; everything is checked before anything is written."""
        with self.conn.write() as cur:
            seq = self._seq_for(cur, vectors)
            inserted = 0

            def insert(versions: builtins.list[tuple[MemoryRecord, Keys | None, float | None]]) -> None:
                nonlocal inserted
                refs = rows.insert_records(cur, [v[0] for v in versions], [v[1] for v in versions],
                                           model_id=model_id, seq=seq, embed_version=self.embed_version,
                                           sys_tos=[v[2] for v in versions])
                self._index_text(cur, refs)  # one statement for the import: windows are built once
                inserted += len(refs)

            written = pg_restore.restore(cur, records, events, vectors, insert)
            self._enqueue_jobs(cur, [j for j in jobs if j.memory_id in written], ts(utcnow()))
            rows.bump(cur)
        return inserted

    # ---- reads --------------------------------------------------------------

    def get(self, memory_id: str, scope: Scope | None = None) -> MemoryRecord:
        with self.conn.read() as cur:
            return rows.latest(cur, memory_id, scope)

    def list(self, spec: ReadSpec, *, limit: int = 100, offset: int = 0, newest_first: bool = False) -> Records:
        where, params = visibility_clause(spec)
        # ids compare in code-point order (ULIDs: creation order), as in SQLite, whatever the collation
        order = ('m.event_time DESC, m.id COLLATE "C" DESC, m.version DESC' if newest_first
                 else 'm.event_time, m.id COLLATE "C", m.version')
        with self.conn.read() as cur:
            cur.execute(f"SELECT {COLUMNS} FROM memories m WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s",
                        [*params, limit, offset])
            return [record_from_row(r) for r in cur.fetchall()]

    def count(self, spec: ReadSpec) -> int:
        where, params = visibility_clause(spec)
        with self.conn.read() as cur:
            cur.execute(f"SELECT count(*) FROM memories m WHERE {where}", params)
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def fetch(self, refs: Sequence[int], spec: ReadSpec | None = None) -> dict[int, MemoryRecord]:
        if not refs:
            return {}
        where, params = visibility_clause(spec) if spec is not None else ("TRUE", [])
        with self.conn.read() as cur:
            cur.execute(f"SELECT {COLUMNS} FROM memories m WHERE m.ref = ANY(%s) AND {where}",
                        [[int(r) for r in refs], *params])
            return {int(r[0]): record_from_row(r) for r in cur.fetchall()}

    def history(self, memory_id: str, scope: Scope | None = None) -> Events:
        with self.conn.read() as cur:
            cur.execute("SELECT 1 FROM memories WHERE id = %s LIMIT 1", (memory_id,))
            if cur.fetchone() is None:
                # a deleted memory leaves only its tombstone, shown to its owner's scope (or no scope)
                tombs = erasure.tombstones(cur, memory_id, scope)
                if not tombs:
                    raise NotFoundError(f"no memory with id {memory_id!r}")
                return tombs
            rows.latest(cur, memory_id, scope)
            cur.execute("SELECT id, memory_id, action, at, before, after FROM history WHERE memory_id = %s "
                        "ORDER BY seq", (memory_id,))
            return [rows.event_from_row(r) for r in cur.fetchall()]

    def scopes(self, scope: Scope | None = None, *, by_session: bool = False) -> builtins.list[ScopeSummary]:
        where, params = scope_clause(scope) if scope is not None else ("TRUE", [])
        keys = "m.user_id, m.agent_id" + (", m.session_id" if by_session else "")
        # sessions in conversation order (session_2 before session_10)
        order = "m.user_id, m.agent_id, MIN(m.event_time), m.session_id" if by_session else keys
        with self.conn.read() as cur:
            cur.execute(
                f"SELECT {keys}, COUNT(*), COUNT(DISTINCT m.session_id), MIN(m.event_time), MAX(m.event_time) "
                f"FROM memories m WHERE m.sys_to IS NULL AND ({where}) GROUP BY {keys} ORDER BY {_c_order(order)}",
                params)
            found = cur.fetchall()
        out = []
        for row in found:
            count, sessions, first, last = row[-4:]
            out.append(ScopeSummary(row[0], row[1], row[2] if by_session else None, int(count), int(sessions),
                                    _when(first), _when(last)))
        return out

    def export(self, scope: Scope | None = None) -> Iterator[dict[str, Any]]:
        where, params = scope_clause(scope) if scope is not None else ("TRUE", [])
        with self.conn.read() as cur:
            cur.execute(f"SELECT {COLUMNS} FROM memories m WHERE {where} ORDER BY m.id COLLATE \"C\", m.version",
                        params)
            found = cur.fetchall()
            ids = sorted({r[1] for r in found})
            cur.execute("SELECT id, memory_id, action, at, before, after FROM history WHERE memory_id = ANY(%s) "
                        "ORDER BY seq", (ids,))
            events = cur.fetchall()
            tombs = erasure.export_tombstones(cur, scope)
        for r in found:
            yield {"type": "record", **record_from_row(r).to_dict()}
        for e in events:
            yield {"type": "event", **rows.event_from_row(e).to_dict()}
        for t in tombs:
            yield {"type": "event", **t.to_dict()}

    # ---- internals ----------------------------------------------------------

    def _insert(self, cur: Cursor, rec: MemoryRecord, keys: Keys | None, model_id: str | None,
                seq: int | None, sys_to: float | None = None) -> int:
        """Insert one record version and index its text (keyword index, episode windows: pg_search.py)."""
        ref = rows.insert_record(cur, rec, sys_to=sys_to, keys=keys, model_id=model_id, seq=seq,
                                 embed_version=self.embed_version)
        self._index_text(cur, [ref])
        return ref

    def _seq_for(self, cur: Cursor, vectors: Sequence[Keys | None] | None) -> int | None:
        """The embed sequence number of a write that stores vectors (one per transaction)."""
        if vectors is None or all(v is None for v in vectors):
            return None
        return rows.next_seq(cur)


def _c_order(order: str) -> str:
    """Text sorts in code-point order, as in SQLite, whatever the database's collation."""
    return ", ".join(p if "event_time" in p else f'{p} COLLATE "C"' for p in order.split(", "))


def _when(value: float) -> Any:
    when = dt(value)
    assert when is not None
    return when
