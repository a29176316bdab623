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
from collections.abc import Sequence
from typing import Any

import numpy as np
from psycopg import sql

from engramdb.core.ports import Keys, ReadSpec, Scored, ScoredList, Vector
from engramdb.stores.pg_conn import Cursor
from engramdb.stores.pg_sql import visibility_clause
from engramdb.stores.sql_common import member_scores

WINDOW_TURNS = 3  # as vector_index.WINDOW_TURNS
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
    cur.execute(
        f"""
        WITH base AS (
            SELECT m.ref, m.user_id, m.agent_id, m.session_id, m.event_time, m.id,
                   v.embedding::vector({dim}) AS e, ({where}) AS ok
            FROM memories m JOIN vectors v ON v.ref = m.ref
            WHERE {_vector_filter(cur, model_id, dim)} AND m.embed_model = %s AND {base}
              AND m.kind = 'turn' AND m.session_id IS NOT NULL
        ),
        win AS (
            SELECT ref, ok, array_agg(ref) OVER w AS members, array_agg(ok) OVER w AS oks,
                   sum(-(e <#> %s::vector({dim}))) OVER w AS dots, vector_norm(sum(e) OVER w) AS norm
            FROM base
            WINDOW w AS (PARTITION BY user_id, agent_id, session_id ORDER BY event_time, id COLLATE "C", ref
                         ROWS BETWEEN {WINDOW_TURNS - 1} PRECEDING AND CURRENT ROW)
        )
        SELECT ref, members, oks, dots / norm AS score FROM win WHERE ok AND norm > 0
        ORDER BY score DESC, ref LIMIT %s
        """,
        [*params, model_id, *base_params, query, limit],
    )
    return member_scores((float(score), zip(members, oks, strict=True))
                         for _, members, oks, score in cur.fetchall())


def for_hashes(cur: Cursor, index_hashes: Sequence[str], model_id: str, dim: int, version: int) -> dict[str, Keys]:
    """The keys of one embedded row per index hash (the oldest), in one statement."""
    cur.execute(
        "WITH pick AS (SELECT DISTINCT ON (m.index_hash) m.index_hash, m.ref FROM memories m "
        "  WHERE m.index_hash = ANY(%s) AND m.embed_model = %s AND coalesce(m.embed_version, 1) = %s "
        "  AND EXISTS (SELECT 1 FROM vectors x WHERE x.ref = m.ref) ORDER BY m.index_hash, m.ref) "
        "SELECT p.index_hash, v.embedding FROM pick p JOIN vectors v ON v.ref = p.ref ORDER BY p.index_hash, v.key_no",
        (list(dict.fromkeys(index_hashes)), model_id, version),
    )
    found: dict[str, list[Vector]] = {}
    for index_hash, value in cur.fetchall():
        found.setdefault(str(index_hash), []).append(_array(value))
    return {h: np.stack(rows) for h, rows in found.items() if all(r.shape == (dim,) for r in rows)}


def _array(value: Any) -> Vector:
    """A vector column's value as float32 (pgvector's loader hands back Vector objects)."""
    raw = value.to_numpy() if hasattr(value, "to_numpy") else value
    return np.asarray(raw, dtype=np.float32)
