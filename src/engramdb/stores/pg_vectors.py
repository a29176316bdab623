"""Vector reads of the PostgreSQL store: pgvector over the ``vectors`` table (migration 0001).

- Turns: cosine order through a partial HNSW index per (model, dimension) (key 0 only), with
  ``hnsw.iterative_scan`` so that a scope filter applied after the index still yields
  ``limit`` rows; the planner scans exactly instead when the scope's rows are few (its choice
  is measured in BENCHMARKS.md, "PostgreSQL store").
- Dense windows are composed at query time, exactly as the SQLite store's cache composes them
  (vector_index.py): a turn's window is it and the two turns before it among the scope's
  embedded turns of its session in (event_time, id) order; its score is the members' dot
  products with the query summed and divided by the norm of the members' vectors summed
  (SQL window functions over the scope's turns). No window table has to follow the writes.
- Sentence keys: the candidates' key rows, best cosine per candidate.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from psycopg import pq, sql

from engramdb.core.ports import Keys, ReadSpec, Scored, ScoredList, Vector
from engramdb.stores.pg_conn import Cursor
from engramdb.stores.pg_sql import visibility_clause
from engramdb.stores.sql_common import member_scores

WINDOW_TURNS = 3  # as vector_index.WINDOW_TURNS
WINDOW_FANOUT = 3  # as sqlite_vectors.WINDOW_FANOUT: the index's turn candidates per window wanted
EXACT_WINDOWS_MAX = 5_000  # scopes with more turns than this take their dense windows from the index (measured)
ENV_EXACT_WINDOWS_MAX = "ENGRAM_PG_EXACT_WINDOWS_MAX"
EXACT_TURNS_MAX = 2_000  # scopes with more embedded rows than this take their dense turns from the index
ENV_EXACT_TURNS_MAX = "ENGRAM_PG_EXACT_TURNS_MAX"
EF_SEARCH = 200  # HNSW candidate list: above the search's 100 candidates per list


def index_name(model_id: str, dim: int) -> str:
    return "vectors_hnsw_" + hashlib.sha256(f"{model_id}\x1f{dim}".encode()).hexdigest()[:16]


def create_index(cur: Cursor, model_id: str, dim: int) -> None:
    """The HNSW (cosine) index of one model's whole-text vectors; partial, so each model and
    dimension has its own (pgvector indexes need one fixed dimension)."""
    cur.execute(sql.SQL(
        "CREATE INDEX IF NOT EXISTS {name} ON vectors USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
        "WHERE model = {model} AND key_no = 0 AND vector_dims(embedding) = {dim}"
    ).format(name=sql.Identifier(index_name(model_id, dim)), dim=sql.Literal(dim), model=sql.Literal(model_id)))


def has_index(cur: Cursor, model_id: str, dim: int) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (index_name(model_id, dim),))
    row = cur.fetchone()
    return bool(row and row[0])


def _vector_filter(cur: Cursor, model_id: str, dim: int, alias: str = "v") -> str:
    """The predicate of the partial index, with literals (a parameter would hide it from the planner)."""
    model = sql.Literal(model_id).as_string(cur)
    return f"{alias}.model = {model} AND {alias}.key_no = 0 AND vector_dims({alias}.embedding) = {int(dim)}"


def turns(cur: Cursor, spec: ReadSpec, query: Vector, model_id: str, limit: int) -> ScoredList:
    if limit <= 0:
        return []
    dim = int(query.shape[0])
    where, params = visibility_clause(spec)
    if not _more_rows_than(cur, f"m.embed_model = %s AND {where}", [model_id, *params], exact_turns_max()):
        return _exact_turns(cur, where, params, query, model_id, limit)
    cur.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
    cur.execute(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, int(limit))}")
    # relaxed order inside (more rows found per index step), exact order outside
    cur.execute(
        f"""
        WITH near AS MATERIALIZED (
            SELECT v.ref, (v.embedding::vector({dim})) <=> %s::vector({dim}) AS d
            FROM vectors v JOIN memories m ON m.ref = v.ref
            WHERE {_vector_filter(cur, model_id, dim)} AND m.embed_model = %s AND {where}
            ORDER BY (v.embedding::vector({dim})) <=> %s::vector({dim})
            LIMIT %s
        )
        SELECT ref, 1 - d FROM near ORDER BY d, ref
        """,
        [query, model_id, *params, query, limit],
    )
    return [Scored(int(r[0]), float(r[1])) for r in cur.fetchall()]


def exact_turns_max() -> int:
    """The cut-over in force for turns: ``$ENGRAM_PG_EXACT_TURNS_MAX`` if set (0: every scope
    through the index), else EXACT_TURNS_MAX."""
    raw = os.environ.get(ENV_EXACT_TURNS_MAX, "").strip()
    return int(raw) if raw.isdigit() else EXACT_TURNS_MAX


def _more_rows_than(cur: Cursor, rows: str, params: list[Any], cap: int) -> bool:
    """Whether more than ``cap`` memories rows (``m``) match ``rows``; reads at most cap + 1."""
    cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM memories m WHERE {rows} LIMIT %s) s", [*params, cap + 1])
    row = cur.fetchone()
    return bool(row and int(row[0]) > cap)


def _exact_turns(cur: Cursor, where: str, params: list[Any], query: Vector, model_id: str,
                 limit: int) -> ScoredList:
    """A small scope's turns in exact cosine order: its rows first (their scope index), then
    their key-0 vectors by primary key. The distance is written without the index's cast, so
    the planner cannot turn this into an index scan that filters a big table down to the scope
    (pgvector's HNSW then walks most of the graph to find a small scope's rows)."""
    dim = int(query.shape[0])
    cur.execute(
        f"""
        WITH s AS MATERIALIZED (SELECT m.ref FROM memories m WHERE m.embed_model = %s AND {where})
        SELECT v.ref, 1 - (v.embedding <=> %s::vector({dim})) AS score
        FROM s JOIN vectors v ON v.ref = s.ref AND v.key_no = 0
        WHERE {_vector_filter(cur, model_id, dim)}
        ORDER BY v.embedding <=> %s::vector({dim}), v.ref
        LIMIT %s
        """,
        [model_id, *params, query, query, limit],
    )
    return [Scored(int(r[0]), float(r[1])) for r in cur.fetchall()]


def keys(cur: Cursor, spec: ReadSpec, refs: Sequence[int], query: Vector, model_id: str) -> ScoredList:
    if not refs:
        return []
    dim = int(query.shape[0])
    where, params = visibility_clause(spec)
    cur.execute(
        f"SELECT v.ref, max(-(v.embedding <#> %s::vector({dim}))) FROM vectors v JOIN memories m ON m.ref = v.ref "
        f"WHERE v.ref = ANY(%s) AND v.model = %s AND m.embed_model = %s AND vector_dims(v.embedding) = {dim} "
        f"AND {where} GROUP BY v.ref",
        [query, [int(r) for r in refs], model_id, model_id, *params],
    )
    scored = [Scored(int(r[0]), float(r[1])) for r in cur.fetchall()]
    return sorted(scored, key=lambda s: (-s.score, s.ref))


def exact_windows_max() -> int:
    """The cut-over in force: ``$ENGRAM_PG_EXACT_WINDOWS_MAX`` if set (0: every scope through the
    index), else EXACT_WINDOWS_MAX."""
    raw = os.environ.get(ENV_EXACT_WINDOWS_MAX, "").strip()
    return int(raw) if raw.isdigit() else EXACT_WINDOWS_MAX


@dataclass(frozen=True)
class _Turns:
    """What windows are made of, as SQL over ``memories m`` joined to ``vectors v``: ``rows``
    selects the scope's turns with a session embedded by the model, ``vector`` their whole-text
    vectors; ``where`` says which of them the read may return."""

    rows: str
    params: list[Any]
    vector: str
    where: str
    where_params: list[Any]


def windows(cur: Cursor, spec: ReadSpec, query: Vector, model_id: str, limit: int) -> ScoredList:
    """Turns scored by the best of the ``limit`` best window scores that contain them."""
    if limit <= 0:
        return []
    dim = int(query.shape[0])
    where, params = visibility_clause(spec)
    if spec.as_of is not None or spec.valid_at is not None:
        base, base_params = where, params  # a past state: windows over what was visible then
    else:
        # windows over the scope's turns; filters, kinds and expiry only say which windows and
        # members may be returned (as the SQLite cache masks its scope matrix)
        base, base_params = visibility_clause(ReadSpec(spec.scope, include_superseded=spec.include_superseded,
                                                       include_archived=spec.include_archived))
    turns = _Turns(f"m.embed_model = %s AND m.kind = 'turn' AND m.session_id IS NOT NULL AND {base}",
                   [model_id, *base_params], _vector_filter(cur, model_id, dim), where, params)
    if _more_rows_than(cur, turns.rows, turns.params, exact_windows_max()):
        # a filtered read also asks the index for its own best turns: the scope's best may all
        # lie in windows the filters refuse
        narrow = base != where and (spec.filters is not None or bool(spec.kinds))
        rows = _near_windows(cur, turns, query, limit, narrow)
    else:
        rows = _all_windows(cur, turns, query, limit)
    return member_scores((float(score), zip(members, oks, strict=True)) for members, oks, score in rows)


def _scored(dim: int) -> str:
    """Each window of the ``base`` rows (ref, user_id, agent_id, session_id, event_time, id,
    e: the vector, ok: the read may return it, key: its window may be returned), scored, best
    first: the members' dot products with the query summed over the norm of their vectors summed."""
    return f"""
        win AS (
            SELECT ref, ok, key, array_agg(ref) OVER w AS members, array_agg(ok) OVER w AS oks,
                   sum(-(e <#> %s::vector({dim}))) OVER w AS dots, vector_norm(sum(e) OVER w) AS norm
            FROM base
            WINDOW w AS (PARTITION BY user_id, agent_id, session_id ORDER BY event_time, id COLLATE "C", ref
                         ROWS BETWEEN {WINDOW_TURNS - 1} PRECEDING AND CURRENT ROW)
        )
        SELECT members, oks, dots / norm AS score FROM win WHERE ok AND key AND norm > 0
        ORDER BY score DESC, ref LIMIT %s
        """


def _all_windows(cur: Cursor, turns: _Turns, query: Vector, limit: int) -> list[tuple[Any, ...]]:
    """The exact plan: every window of the scope (reads every vector of the scope's turns)."""
    dim = int(query.shape[0])
    cur.execute(
        f"""
        WITH base AS (
            SELECT m.ref, m.user_id, m.agent_id, m.session_id, m.event_time, m.id,
                   v.embedding::vector({dim}) AS e, ({turns.where}) AS ok, true AS key
            FROM memories m JOIN vectors v ON v.ref = m.ref
            WHERE {turns.vector} AND {turns.rows}
        ),
        {_scored(dim)}
        """,
        [*turns.where_params, *turns.params, query, limit],
    )
    return cur.fetchall()


def _near_windows(cur: Cursor, turns: _Turns, query: Vector, limit: int, narrow: bool) -> list[tuple[Any, ...]]:
    """The big-scope plan: the index's best ``limit * WINDOW_FANOUT`` turns (``narrow``: and as
    many of those the read may return), and only the windows holding them, scored exactly.

    The windows holding a turn c are keyed by c and by the two turns after it, so their members
    are c and its two neighbours on each side; within the union of those neighbourhoods a key's
    two predecessors are its predecessors in the whole session (they are consecutive there), so
    the exact plan's window functions over that union score the keys' windows exactly."""
    dim = int(query.shape[0])
    wanted = limit * WINDOW_FANOUT
    _search_settings(cur, wanted)
    nearest = (f"(SELECT v.ref FROM vectors v JOIN memories m ON m.ref = v.ref WHERE {turns.vector} AND {{}} "
               f"ORDER BY (v.embedding::vector({dim})) <=> %s::vector({dim}) LIMIT %s)")
    near = nearest.format(turns.rows)
    near_params = [*turns.params, query, wanted]
    if narrow:
        near += " UNION " + nearest.format(f"{turns.rows} AND {turns.where}")
        near_params += [*turns.params, *turns.where_params, query, wanted]
    side = (f"SELECT m.ref FROM memories m JOIN vectors v ON v.ref = m.ref "
            f"WHERE m.session_id = c.session_id AND m.user_id IS NOT DISTINCT FROM c.user_id "
            f"AND m.agent_id IS NOT DISTINCT FROM c.agent_id AND (m.event_time, m.id COLLATE \"C\", m.ref) {{}} "
            f"(c.event_time, c.id, c.ref) AND {turns.vector} AND {turns.rows} "
            f"ORDER BY m.event_time {{}}, m.id COLLATE \"C\" {{}}, m.ref {{}} LIMIT {WINDOW_TURNS - 1}")
    cur.execute(
        f"""
        WITH near AS MATERIALIZED ({near}),
        cand AS MATERIALIZED (
            SELECT m.ref, m.user_id, m.agent_id, m.session_id, m.event_time, m.id
            FROM memories m WHERE m.ref IN (SELECT ref FROM near)
        ),
        around AS MATERIALIZED (
            SELECT c.ref, true AS key FROM cand c
            UNION ALL SELECT b.ref, false FROM cand c CROSS JOIN LATERAL ({side.format("<", *["DESC"] * 3)}) b
            UNION ALL SELECT a.ref, true FROM cand c CROSS JOIN LATERAL ({side.format(">", *["ASC"] * 3)}) a
        ),
        base AS (
            SELECT m.ref, m.user_id, m.agent_id, m.session_id, m.event_time, m.id,
                   v.embedding::vector({dim}) AS e, ({turns.where}) AS ok,
                   m.ref IN (SELECT ref FROM around WHERE key) AS key
            FROM memories m JOIN vectors v ON v.ref = m.ref
            WHERE m.ref IN (SELECT ref FROM around) AND {turns.vector}
        ),
        {_scored(dim)}
        """,
        [*near_params, *turns.params, *turns.params, *turns.where_params, query, limit],
    )
    return cur.fetchall()


def _search_settings(cur: Cursor, wanted: int) -> None:
    """The index settings of ``turns`` for this transaction; a read of one statement (autocommit)
    opens one, which the store's read ends (it rolls back whatever is left open)."""
    begin = "BEGIN READ ONLY; " if cur.connection.info.transaction_status == pq.TransactionStatus.IDLE else ""
    cur.execute(f"{begin}SET LOCAL hnsw.iterative_scan = relaxed_order; "
                f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, int(wanted))}")


def for_hashes(cur: Cursor, index_hashes: Sequence[str], model_id: str, dim: int, version: int) -> dict[str, Keys]:
    """The keys of one embedded row per index hash (the oldest), in one statement."""
    cur.execute(
        "WITH pick AS (SELECT DISTINCT ON (m.index_hash) m.index_hash, m.ref FROM memories m "
        "  WHERE m.index_hash = ANY(%s) AND m.embed_model = %s AND coalesce(m.embed_version, 1) = %s "
        "  AND EXISTS (SELECT 1 FROM vectors x WHERE x.ref = m.ref) ORDER BY m.index_hash, m.ref) "
        "SELECT p.index_hash, v.embedding FROM pick p JOIN vectors v ON v.ref = p.ref ORDER BY p.index_hash, v.key_no",
        (list(dict.fromkeys(index_hashes)), model_id, version),
        binary=True,  # vectors as float4 bytes, not text that the client parses number by number
    )
    found: dict[str, list[Vector]] = {}
    for index_hash, value in cur.fetchall():
        found.setdefault(str(index_hash), []).append(_array(value))
    return {h: np.stack(rows) for h, rows in found.items() if all(r.shape == (dim,) for r in rows)}


def _array(value: Any) -> Vector:
    """A vector column's value as float32 (pgvector's loader hands back Vector objects)."""
    raw = value.to_numpy() if hasattr(value, "to_numpy") else value
    return np.asarray(raw, dtype=np.float32)
