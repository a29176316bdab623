"""SQLite FTS5's BM25, in PostgreSQL SQL, over the tokens of pg_terms.py.

FTS5 (ext/fts5/fts5_aux.c) scores a row for a query of phrases p as

    sum over p of idf(p) * (f(p) * (k1 + 1)) / (f(p) + k1 * (1 - b + b * D / avgdl))

with k1 = 1.2, b = 0.75, idf(p) = ln((N - n(p) + 0.5) / (n(p) + 0.5)) (1e-6 when that is not
positive), f(p) the phrase's count in the row, D the row's tokens, N the rows and avgdl the
mean tokens per row. Here N, avgdl and n(p) come from bm25_totals / bm25_terms of the row's
bucket (its user) instead of the whole file, and the sum runs in query-term order in float8,
as FTS5's does in double, so equal inputs tie exactly and ties fall to the lower ref (rowid).
"""

from __future__ import annotations

from typing import Any, Literal

from engramdb.core.ports import Scored
from engramdb.stores.pg_conn import Cursor

Index = Literal["t", "w"]
_TABLES = {"t": "memory_terms", "w": "memory_windows"}

# FTS5's constants, as float8 (a numeric literal would round differently)
_K1 = "1.2::float8"
_B = "0.75::float8"


def rank(cur: Cursor, index: Index, tokens: list[str], tsq: str, where: str, params: list[Any],
         limit: int) -> list[Scored]:
    """The ``limit`` best rows of ``index`` for any of ``tokens`` whose memories row (``m``: for
    windows, the window's last turn) passes ``where``; best first, ties by ref."""
    if not tokens or not tsq or limit <= 0:
        return []
    table = _TABLES[index]
    cur.execute(
        f"""
        WITH q AS (SELECT q.term, q.n FROM unnest(%s::text[]) WITH ORDINALITY AS q(term, n)),
        hits AS MATERIALIZED (
            -- array_cat detoasts each array once here, not once per query term below
            SELECT x.ref, x.bucket, array_cat(x.terms, '{{}}') AS terms, array_cat(x.freqs, '{{}}') AS freqs, x.len
            FROM {table} x JOIN memories m ON m.ref = x.ref
            WHERE x.tsv @@ %s::tsquery AND {where}
        ),
        idf AS MATERIALIZED (
            SELECT bucket, avgdl, n, term, CASE WHEN x <= 0 THEN 1e-6::float8 ELSE x END AS idf FROM (
                SELECT s.bucket, s.tokens::float8 / s.docs::float8 AS avgdl, q.n, q.term,
                       ln(((s.docs - coalesce(d.df, 0))::float8 + 0.5::float8)
                          / (coalesce(d.df, 0)::float8 + 0.5::float8)) AS x
                FROM (SELECT DISTINCT bucket FROM hits) b
                JOIN bm25_totals s ON s.idx = %s AND s.bucket = b.bucket
                CROSS JOIN q
                LEFT JOIN bm25_terms d ON d.idx = %s AND d.bucket = s.bucket AND d.term = q.term) st
        ),
        tf AS MATERIALIZED (
            SELECT h.ref, i.n, i.idf, i.avgdl, h.len::float8 AS len,
                   coalesce(h.freqs[array_position(h.terms, i.term)], 0)::float8 AS tf
            FROM hits h JOIN idf i ON i.bucket = h.bucket
        )
        SELECT ref, sum(idf * ((tf * ({_K1} + 1.0::float8))
                               / (tf + {_K1} * (1.0::float8 - {_B} + {_B} * len / avgdl))) ORDER BY n) AS score
        FROM tf
        GROUP BY ref
        ORDER BY score DESC, ref
        LIMIT %s
        """,
        [tokens, tsq, *params, index, index, limit],
    )
    return [Scored(int(r[0]), float(r[1])) for r in cur.fetchall()]


def window_members(cur: Cursor, refs: list[int]) -> dict[int, tuple[int, ...]]:
    """The member refs of the windows keyed by ``refs``."""
    if not refs:
        return {}
    cur.execute("SELECT ref, members FROM memory_windows WHERE ref = ANY(%s)", (refs,))
    return {int(r[0]): tuple(int(m) for m in r[1]) for r in cur.fetchall()}
