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

import math
from typing import Any, Literal

from engramdb.core.ports import Scored
from engramdb.stores.pg_conn import Cursor
from engramdb.stores.pg_terms import MAX_LEXEME_BYTES, tsquery

Index = Literal["t", "w"]
_TABLES = {"t": "memory_terms", "w": "memory_windows"}

# FTS5's constants, as float8 (a numeric literal would round differently)
_K1 = "1.2::float8"
_B = "0.75::float8"
_K1_VALUE = 1.2
_PRUNE_MIN_POSTINGS = 2_000  # fewer postings than this in all: score them all (one statement, no bound to find)
# finding a row from the full-text index (its ref only) costs about a sixth of scoring it (100k
# scope, LoCoMo questions): the essential words' rows are scored directly when the other words
# hold more than five times as many rows as they do
_FIND_PER_SCORE = 6
_FIRST_POSTINGS = 2  # the rarest tokens scored first hold this many postings per row wanted


def rank(cur: Cursor, index: Index, tokens: list[str], tsq: str, where: str, params: list[Any],
         limit: int, bucket: str | None = None) -> list[Scored]:
    """The ``limit`` best rows of ``index`` for any of ``tokens`` whose memories row (``m``: for
    windows, the window's last turn) passes ``where``; best first, ties by ref. ``bucket``: the
    statistics bucket every row ``where`` admits is in (a scope with a user), which lets a
    query of common and rare words skip the rows that hold only common ones (``_pruned``)."""
    if not tokens or not tsq or limit <= 0:
        return []
    if bucket is not None and len(set(tokens)) > 1 and all(len(t.encode()) <= MAX_LEXEME_BYTES for t in tokens):
        return _pruned(cur, index, tokens, where, params, limit, bucket)
    return _score(cur, index, tokens, tsq, where, params, limit)


def _pruned(cur: Cursor, index: Index, tokens: list[str], where: str, params: list[Any], limit: int,
            bucket: str) -> list[Scored]:
    """The same answer as scoring every row that holds any query token, from fewer rows (the
    max-score bound of top-k retrieval): a token adds less than idf * (k1 + 1) to a row's score
    (its saturation tf / (tf + k1 * (...)) is below 1), so once ``limit`` rows score at least
    theta, a row holding only tokens whose bounds sum to at most theta scores below theta and
    cannot be among the best. Theta comes from scoring the rows of the rarest tokens; while the
    tokens it leaves "essential" (the others) hold many more rows than those scored, the next
    rarest tokens are added (the rows scored at least doubling each time, which raises theta);
    last, the rows holding an essential token are scored. Scores are computed by the one
    statement of ``_score``, so they are the same numbers, bit for bit."""
    found = _bounds(cur, index, tokens, bucket)
    if found is None:
        return []  # no row of the bucket is indexed
    postings, bounds = found
    if sum(postings.values()) <= _PRUNE_MIN_POSTINGS:
        return _score(cur, index, tokens, tsquery(tokens), where, params, limit)
    rarest = sorted(postings, key=lambda t: (postings[t], t))  # also the order of the bounds, largest first
    scored = _grown(rarest, postings, 0, _FIRST_POSTINGS * limit)
    while True:
        first = rarest[:scored]
        best = _score(cur, index, tokens, tsquery(first), where, params, limit)
        if scored == len(rarest):
            return best
        if len(best) < limit:  # too few visible rows to bound the others by: score more
            scored = _grown(rarest, postings, scored, 2 * sum(postings[t] for t in first))
            continue
        needed = _essential(tokens, bounds, best[-1].score)
        if needed <= set(first):
            return best  # every row that can be among the best holds one of the tokens scored
        last = max(rarest.index(t) for t in needed) + 1
        scored = _grown(rarest, postings, scored, 2 * sum(postings[t] for t in first))
        if scored >= last:
            if sum(postings.values()) > _FIND_PER_SCORE * sum(postings[t] for t in rarest[:last]):
                return _score(cur, index, tokens, tsquery(rarest[:last]), where, params, limit)
            rows = _above(cur, index, tokens, bounds, bucket, best[-1].score)
            return _score(cur, index, tokens, rows, where, params, limit)


def _above(cur: Cursor, index: Index, tokens: list[str], bounds: dict[str, float], bucket: str,
           theta: float) -> list[int]:
    """The bucket's rows whose query tokens' bounds sum to more than theta: the only rows that
    can score theta or more. Found from the full-text index, one token at a time, reading each
    row's ref but none of its arrays (scoring a row costs far more than finding it)."""
    distinct = list(bounds)
    cur.execute(
        f"SELECT p.ref FROM unnest(%s::tsquery[], %s::float8[]) AS b(q, bound) "
        f"CROSS JOIN LATERAL (SELECT x.ref FROM {_TABLES[index]} x WHERE x.tsv @@ b.q AND x.bucket = %s) p "
        f"GROUP BY p.ref HAVING sum(b.bound) > %s",
        [[tsquery([t]) for t in distinct], [bounds[t] * tokens.count(t) for t in distinct], bucket, theta])
    return [int(r[0]) for r in cur.fetchall()]


def _grown(rarest: list[str], postings: dict[str, int], scored: int, wanted: int) -> int:
    """How many of the rarest tokens to score: at least one more than ``scored``, and as many as
    hold ``wanted`` rows (or all)."""
    n = scored + 1
    while n < len(rarest) and sum(postings[t] for t in rarest[:n]) < wanted:
        n += 1
    return min(n, len(rarest))


def _essential(tokens: list[str], bounds: dict[str, float], theta: float) -> set[str]:
    """The tokens a row must hold to score theta or more: all but the most that, together,
    cannot add up to more than theta (a repeated query token counts once per repetition)."""
    essential = set(bounds)
    total = 0.0
    for token in sorted(bounds, key=lambda t: (bounds[t], t)):
        total += bounds[token] * tokens.count(token)
        if total > theta:
            break
        essential.discard(token)
    return essential


def _bounds(cur: Cursor, index: Index, tokens: list[str], bucket: str
            ) -> tuple[dict[str, int], dict[str, float]] | None:
    """Per distinct token: its rows in the bucket (df) and the most it can add to a row's score
    (idf * (k1 + 1), with a margin far above float8 rounding); None when the bucket has no rows."""
    distinct = list(dict.fromkeys(tokens))
    cur.execute("SELECT s.docs, (SELECT array_agg(coalesce(d.df, 0) ORDER BY q.n) "
                "FROM unnest(%s::text[]) WITH ORDINALITY AS q(term, n) "
                "LEFT JOIN bm25_terms d ON d.idx = s.idx AND d.bucket = s.bucket AND d.term = q.term) "
                "FROM bm25_totals s WHERE s.idx = %s AND s.bucket = %s", [distinct, index, bucket])
    row = cur.fetchone()
    if row is None:
        return None
    docs = int(row[0])
    postings = {t: int(df) for t, df in zip(distinct, row[1], strict=True)}
    bounds = {}
    for token, df in postings.items():
        x = math.log((docs - df + 0.5) / (df + 0.5)) if docs - df + 0.5 > 0 else 0.0
        bounds[token] = (x if x > 0 else 1e-6) * (_K1_VALUE + 1.0) * (1.0 + 1e-9)
    return postings, bounds


def _score(cur: Cursor, index: Index, tokens: list[str], tsq: str | list[int], where: str, params: list[Any],
           limit: int) -> list[Scored]:
    """Every row of ``index`` matching ``tsq`` (a tsquery, or the rows' refs) and ``where``, scored for
    all of ``tokens``.

    Each row keeps only its count of each query token (array_cat detoasts its arrays once per
    row, OFFSET 0 keeps it so, not once per token); its score is one expression summing the
    tokens' parts left to right in query order, the additions FTS5 makes in double (and
    sum(float8) would make in that order)."""
    table = _TABLES[index]
    match = "x.tsv @@ %s::tsquery" if isinstance(tsq, str) else "x.ref = ANY(%s::bigint[])"
    counts = ", ".join(["coalesce(h.freqs[array_position(h.terms, %s::text)], 0)::float8"] * len(tokens))
    parts = " + ".join(f"(st.idf[{n}] * ((h.tfs[{n}] * ({_K1} + 1.0::float8)) / (h.tfs[{n}] + {_K1} * "
                       f"(1.0::float8 - {_B} + {_B} * h.len / st.avgdl))))" for n in range(1, len(tokens) + 1))
    cur.execute(
        f"""
        WITH hits AS MATERIALIZED (
            SELECT h.ref, h.bucket, h.len::float8 AS len, ARRAY[{counts}] AS tfs
            FROM (SELECT x.ref, x.bucket, array_cat(x.terms, '{{}}') AS terms, array_cat(x.freqs, '{{}}') AS freqs,
                         x.len
                  FROM {table} x JOIN memories m ON m.ref = x.ref
                  WHERE {match} AND {where} OFFSET 0) h
        ),
        st AS MATERIALIZED (
            SELECT s.bucket, s.tokens::float8 / s.docs::float8 AS avgdl,
                   (SELECT array_agg(CASE WHEN i.x <= 0 THEN 1e-6::float8 ELSE i.x END ORDER BY i.n) FROM (
                        SELECT q.n, ln(((s.docs - coalesce(d.df, 0))::float8 + 0.5::float8)
                                       / (coalesce(d.df, 0)::float8 + 0.5::float8)) AS x
                        FROM unnest(%s::text[]) WITH ORDINALITY AS q(term, n)
                        LEFT JOIN bm25_terms d ON d.idx = s.idx AND d.bucket = s.bucket AND d.term = q.term) i
                   ) AS idf
            FROM bm25_totals s WHERE s.idx = %s AND s.bucket IN (SELECT bucket FROM hits)
        )
        SELECT h.ref, {parts} AS score
        FROM hits h JOIN st ON st.bucket = h.bucket
        ORDER BY score DESC, h.ref
        LIMIT %s
        """,
        [*tokens, tsq, *params, tokens, index, limit],
    )
    return [Scored(int(r[0]), float(r[1])) for r in cur.fetchall()]


def window_members(cur: Cursor, refs: list[int], where: str, params: list[Any]
                   ) -> dict[int, tuple[tuple[int, bool], ...]]:
    """The member refs of the windows keyed by ``refs``, each with whether its memories row
    passes ``where`` (one statement)."""
    if not refs:
        return {}
    cur.execute(f"SELECT w.ref, w.members, ARRAY(SELECT m.ref FROM memories m WHERE m.ref = ANY(w.members) "
                f"AND {where}) FROM memory_windows w WHERE w.ref = ANY(%s)", [*params, refs])
    out = {}
    for ref, members, visible in cur.fetchall():
        shown = {int(r) for r in visible}
        out[int(ref)] = tuple((int(m), int(m) in shown) for m in members)
    return out
