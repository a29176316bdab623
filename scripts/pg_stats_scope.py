"""Where the PostgreSQL store's keyword ranking differs from SQLite's, and why (BENCHMARKS.md,
"PostgreSQL store"): LoCoMo's five conversations in one store of each kind (five users), every
question's BM25 turn and window lists (top 100) compared, first with the PostgreSQL store's
per-user term statistics, then with its statistics merged into one set for the whole database,
as SQLite's FTS5 keeps them for its file. Keyword search needs no embedder: the hash one is used.

    .venv/bin/python scripts/pg_stats_scope.py [POSTGRESQL_SERVER_URL]   # default: scripts/dev_pg.py's
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from engramdb import Memory
from engramdb.bench.common import DEFAULT_DATA
from engramdb.core.models import Scope
from engramdb.core.ports import ReadSpec, ScoredList, Store
from engramdb.formats.locomo import locomo_batches
from engramdb.retrieval.terms import query_terms
from engramdb.stores.postgres import PostgresStore
from engramdb.stores.sqlite import SQLiteStore

DB = "engram_stats_scope"
MERGE = """
ALTER TABLE memory_terms DISABLE TRIGGER USER; ALTER TABLE memory_windows DISABLE TRIGGER USER;
UPDATE memory_terms SET bucket = ''; UPDATE memory_windows SET bucket = '';
TRUNCATE bm25_totals, bm25_terms;
INSERT INTO bm25_totals SELECT 't', '', count(*), sum(len) FROM memory_terms;
INSERT INTO bm25_totals SELECT 'w', '', count(*), sum(len) FROM memory_windows;
INSERT INTO bm25_terms SELECT 't', '', t, count(*) FROM memory_terms, unnest(terms) t GROUP BY t;
INSERT INTO bm25_terms SELECT 'w', '', t, count(*) FROM memory_windows, unnest(terms) t GROUP BY t;
ALTER TABLE memory_terms ENABLE TRIGGER USER; ALTER TABLE memory_windows ENABLE TRIGGER USER;
"""


def keyed(store: Store, scored: ScoredList) -> list[tuple[object, ...]]:
    records = store.fetch([s.ref for s in scored])
    return [(records[s.ref].scope.session_id, records[s.ref].event_time, records[s.ref].content) for s in scored]


def compare(label: str, stores: list[Store], questions: list[tuple[str, str]]) -> None:
    same = [0, 0]
    overlap = [0.0, 0.0]
    for user, question in questions:
        spec, terms = ReadSpec(Scope(user_id=user)), query_terms(question)
        for i, windows in enumerate((False, True)):
            a, b = (keyed(s, s.window_search(spec, terms, 100) if windows else s.text_search(spec, terms, 100))
                    for s in stores)
            same[i] += a == b
            overlap[i] += len(set(a[:10]) & set(b[:10])) / max(1, len(a[:10]))
    n = len(questions)
    print(f"{label}: identical top-100 lists, turns {same[0]}/{n}, windows {same[1]}/{n}; top-10 overlap "
          f"turns {overlap[0] / n:.3f}, windows {overlap[1] / n:.3f}")


def main() -> None:
    server = sys.argv[1] if len(sys.argv) > 1 else Path("/tmp/engram-dev-pg.url").read_text().strip()
    url = f"{server.rpartition('/')[0]}/{DB}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB)))
    path = DEFAULT_DATA / "locomo" / "locomo_dev.json"
    data = json.loads(path.read_text())
    stores: list[Store] = [SQLiteStore(Path(tempfile.mkdtemp()) / "scope.db"), PostgresStore(url)]
    try:
        for store in stores:
            mem = Memory(store=store, embedder="hash", background=False, track_recalls=False, facts=False)
            for b in locomo_batches(data, path, user_id=None, agent_id=None):
                mem.add(b.messages, user_id=b.user_id, agent_id=b.agent_id, session_id=b.session_id)
        questions = [(str(s["sample_id"]), str(q["question"])) for s in data for q in s["qa"]]
        compare("per-user statistics (the PostgreSQL store)", stores, questions)
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(MERGE.encode())
        compare("one set of statistics for the database (as SQLite's file)", stores, questions)
    finally:
        for store in stores:
            store.close()
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB)))


if __name__ == "__main__":
    main()
