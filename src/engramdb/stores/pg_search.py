"""The search side of PostgresStore (issue 13): keyword, window, vector and key reads, neighbours,
facets, stored vectors by text hash, embedding models per scope.

Keyword ranking is SQLite FTS5's BM25 over SQLite's own tokens (pg_terms.py, pg_bm25.py,
migration 0002), with term statistics per user rather than per database; vector reads use
pgvector (pg_vectors.py). The record side calls :meth:`_index_text` for every row it inserts.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engramdb.core.errors import ConflictError
from engramdb.core.ports import Facets, Keys, ReadSpec, ScoredList, Vector
from engramdb.stores import pg_bm25, pg_terms, pg_vectors
from engramdb.stores.pg_conn import Connection, Cursor
from engramdb.stores.pg_sql import visibility_clause
from engramdb.stores.sql_common import member_scores

if TYPE_CHECKING:
    from engramdb.stores.pg_bm25 import Index


class PgSearchMethods:
    conn: Connection
    _hnsw_lock = threading.Lock()

    def _index_text(self, cur: Cursor, refs: Sequence[int]) -> None:
        """Index new memories rows for keyword search (in the write's transaction)."""
        pg_terms.index_rows(cur, refs)

    # ---- keyword ------------------------------------------------------------

    def text_search(self, spec: ReadSpec, terms: Sequence[str], limit: int) -> ScoredList:
        if not terms or limit <= 0:
            return []
        with self.conn.read() as cur:  # one snapshot: a ranking's bound and its rows agree
            return self._rank(cur, "t", spec, terms, limit)

    def window_search(self, spec: ReadSpec, terms: Sequence[str], limit: int) -> ScoredList:
        if not terms or limit <= 0:
            return []
        where, params = visibility_clause(spec)
        with self.conn.read() as cur:
            windows = self._rank(cur, "w", spec, terms, limit)
            members = pg_bm25.window_members(cur, [w.ref for w in windows], where, params)
        return member_scores((w.score, members.get(w.ref, ())) for w in windows)

    @staticmethod
    def _rank(cur: Cursor, index: Index, spec: ReadSpec, terms: Sequence[str], limit: int) -> ScoredList:
        tokens = pg_terms.query_tokens(terms)
        where, params = visibility_clause(spec)
        return pg_bm25.rank(cur, index, tokens, pg_terms.tsquery(tokens), where, params, limit,
                            spec.scope.user_id)

    # ---- vectors ------------------------------------------------------------

    def vector_search(self, spec: ReadSpec, query: Vector, model_id: str, limit: int) -> ScoredList:
        self._ensure_hnsw(model_id, int(query.shape[0]))
        with self.conn.read() as cur:
            return pg_vectors.turns(cur, spec, query, model_id, limit)

    def key_search(self, spec: ReadSpec, refs: Sequence[int], query: Vector, model_id: str) -> ScoredList:
        with self.conn.read(snapshot=False) as cur:
            return pg_vectors.keys(cur, spec, refs, query, model_id)

    def window_vector_search(self, spec: ReadSpec, query: Vector, model_id: str, limit: int) -> ScoredList:
        with self.conn.read(snapshot=False) as cur:
            return pg_vectors.windows(cur, spec, query, model_id, limit)

    def vectors_for_hashes(self, index_hashes: Sequence[str], model_id: str, dim: int,
                           version: int = 1) -> dict[str, Keys]:
        if not index_hashes:
            return {}
        with self.conn.read(snapshot=False) as cur:
            return pg_vectors.for_hashes(cur, index_hashes, model_id, dim, version)

    def _ensure_hnsw(self, model_id: str, dim: int) -> None:
        """Create the model's HNSW index on its first search (once per process and model). Not
        inside a write of this thread: the build waits for the writes on ``vectors`` to end."""
        done: set[tuple[str, int]] = self.__dict__.setdefault("_hnsw_ready", set())
        if (model_id, dim) in done or self.conn._held() is not None:
            return
        with self._hnsw_lock:
            with self.conn.read() as cur:
                present = pg_vectors.has_index(cur, model_id, dim)
            if not present:
                try:
                    with self.conn.write(serialize=False) as cur:
                        pg_vectors.create_index(cur, model_id, dim)
                except ConflictError:
                    pass  # another process created it at the same moment (IF NOT EXISTS races on the catalog)
            done.add((model_id, dim))

    # ---- neighbours, facets, models -------------------------------------------

    def adjacent(self, refs: Sequence[int], spec: ReadSpec, width: int) -> dict[int, builtins.list[tuple[int, int]]]:
        if not refs or width <= 0:
            return {}
        where, params = visibility_clause(spec)
        out: dict[int, builtins.list[tuple[int, int]]] = {}
        with self.conn.read() as cur:
            cur.execute("SELECT ref, session_id, event_time, id FROM memories WHERE ref = ANY(%s) "
                        "AND session_id IS NOT NULL", ([int(r) for r in refs],))
            for ref, session, when, memory_id in cur.fetchall():
                before, after = (_neighbours(cur, side, where, [session, when, memory_id, *params, width])
                                 for side in (_BEFORE, _AFTER))
                out[int(ref)] = [(r, -i) for i, r in enumerate(before, 1)] + [(r, i) for i, r in enumerate(after, 1)]
        return out

    def facets(self, refs: Sequence[int]) -> dict[int, Facets]:
        if not refs:
            return {}
        with self.conn.read(snapshot=False) as cur:
            cur.execute("SELECT ref, session_id, speaker, event_time, role FROM memories WHERE ref = ANY(%s)",
                        ([int(r) for r in refs],))
            return {int(ref): Facets(session, speaker, datetime.fromtimestamp(when, tz=UTC), role)
                    for ref, session, speaker, when, role in cur.fetchall()}

    def embed_models(self, spec: ReadSpec) -> dict[str | None, int]:
        where, params = visibility_clause(spec)
        with self.conn.read(snapshot=False) as cur:
            cur.execute(f"SELECT m.embed_model, count(*) FROM memories m WHERE {where} GROUP BY m.embed_model",
                        params)
            return {row[0]: int(row[1]) for row in cur.fetchall()}



# a session's order is (event_time, id), ids in code-point order (SQLite's BINARY), as for its windows
_ID = 'm.id COLLATE "C"'
_BEFORE = (f"(m.event_time, {_ID}) < (%s, %s)", f"m.event_time DESC, {_ID} DESC")
_AFTER = (f"(m.event_time, {_ID}) > (%s, %s)", f"m.event_time, {_ID}")


def _neighbours(cur: Cursor, side: tuple[str, str], where: str, params: list[object]) -> list[int]:
    """Up to ``width`` (the last parameter) visible rows of the session on one side of a turn."""
    place, order = side
    cur.execute(f"SELECT m.ref FROM memories m WHERE m.session_id = %s AND {place} AND {where} "
                f"ORDER BY {order} LIMIT %s", params)
    return [int(r[0]) for r in cur.fetchall()]
