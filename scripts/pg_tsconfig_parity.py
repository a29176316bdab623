"""How close PostgreSQL's own text search comes to SQLite FTS5's BM25 ranking (docs/architecture.md,
"PostgreSQL search"): on LoCoMo's questions with evidence (categories 1-4), each conversation
ranked alone, the top 10 of

- ``fts5``: FTS5's tokens (stores/pg_terms.py) with FTS5's BM25, what both stores rank with;
- ``english`` / ``simple``: PostgreSQL's configurations' lexemes with the same BM25 formula;
- ``ts_rank`` / ``ts_rank_cd``: PostgreSQL's own ranking over ``english`` tsvectors,

as overlap with the ``fts5`` top 10, same top 1, and evidence recall@10 of the keyword list alone.

    .venv/bin/python scripts/pg_tsconfig_parity.py [POSTGRESQL_URL]   # default: scripts/dev_pg.py's server
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path

import psycopg

from engramdb.bench.common import DEFAULT_DATA
from engramdb.formats.locomo import locomo_batches
from engramdb.retrieval.terms import query_terms
from engramdb.stores import pg_terms

Tokens = list[Counter[str]]


def lexemes(conn: psycopg.Connection[tuple[object, ...]], config: str, text: str) -> Counter[str]:
    rows = conn.execute("SELECT lexeme, cardinality(positions) FROM unnest(to_tsvector(%s::regconfig, %s))",
                        (config, text)).fetchall()
    return Counter({str(lexeme): int(n) for lexeme, n in rows})


def bm25_top(docs: Tokens, query: list[str], k: int = 10) -> list[int]:
    """FTS5's bm25() (k1 1.2, b 0.75, idf floored at 1e-6, one phrase per query token)."""
    n_docs = len(docs)
    avgdl = sum(sum(c.values()) for c in docs) / n_docs
    df = Counter(t for c in docs for t in c)
    scored = []
    for i, c in enumerate(docs):
        if not any(t in c for t in query):
            continue
        size, score = sum(c.values()), 0.0
        for t in query:
            idf = math.log((n_docs - df[t] + 0.5) / (df[t] + 0.5))
            f = c.get(t, 0)
            score += (idf if idf > 0 else 1e-6) * (f * 2.2) / (f + 1.2 * (0.25 + 0.75 * size / avgdl))
        scored.append((-score, i))
    return [i for _, i in sorted(scored)[:k]]


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else Path("/tmp/engram-dev-pg.url").read_text().strip()
    path = DEFAULT_DATA / "locomo" / "locomo_dev.json"
    data = json.loads(path.read_text())
    names = ("fts5", "english", "simple", "ts_rank", "ts_rank_cd")
    totals = {name: [0.0, 0.0, 0.0] for name in names}
    asked = 0
    with psycopg.connect(url, autocommit=True) as conn:
        for sample in data:
            msgs = [m for b in locomo_batches([sample], path, user_id=None, agent_id=None) for m in b.messages]
            texts = [f"{m['speaker']}: {m['content']}" for m in msgs]
            dia = [m["metadata"]["dia_id"] for m in msgs]
            docs = {"fts5": pg_terms.tokenize(texts), "english": [lexemes(conn, "english", t) for t in texts],
                    "simple": [lexemes(conn, "simple", t) for t in texts]}
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS d (i int, v tsvector)")
            conn.execute("TRUNCATE d")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO d VALUES (%s, to_tsvector('english', %s))", list(enumerate(texts)))
            for qa in sample["qa"]:
                terms = query_terms(qa["question"])
                if qa.get("category") == 5 or not qa.get("evidence") or not terms:
                    continue
                asked += 1
                tops = {"fts5": bm25_top(docs["fts5"], pg_terms.query_tokens(terms))}
                for config in ("english", "simple"):
                    query = [t for w in terms for t in sorted(lexemes(conn, config, w))]
                    tops[config] = bm25_top(docs[config], query)
                tsq = " | ".join(pg_terms.tsquery(sorted(lexemes(conn, "english", w))) for w in terms
                                 if lexemes(conn, "english", w))
                for fn in ("ts_rank", "ts_rank_cd"):
                    tops[fn] = [int(r[0]) for r in conn.execute(
                        f"SELECT i FROM d WHERE v @@ %s::tsquery ORDER BY {fn}(v, %s::tsquery) DESC, i LIMIT 10",
                        (tsq, tsq)).fetchall()] if tsq else []
                gold = set(qa["evidence"])
                for name, top in tops.items():
                    totals[name][0] += len(set(top) & set(tops["fts5"])) / max(1, len(tops["fts5"]))
                    totals[name][1] += top[:1] == tops["fts5"][:1]
                    totals[name][2] += len({dia[i] for i in top} & gold) / len(gold)
    print(f"{asked} LoCoMo questions (categories 1-4), keyword list alone, top 10")
    for name, (overlap, top1, recall) in totals.items():
        print(f"{name:11s} overlap with fts5 {overlap / asked:.3f}  same top 1 {top1 / asked:.3f}  "
              f"evidence recall@10 {recall / asked:.3f}")


if __name__ == "__main__":
    main()
