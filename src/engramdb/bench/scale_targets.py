"""Where ``engram bench scale`` writes: a fresh SQLite file or a fresh PostgreSQL database per
run, how many bytes it takes on disk (per part: rows, vectors, full-text, indexes), and the
vector index build where the store has one to build.

A store's ANN tier plugs in through ``ann_tier`` (found on the store by duck typing, so the
harness imports nothing of it): a search of a scope past its threshold starts the build in
the background, the harness waits for it, and the tier can be switched off for an exact
baseline on the same store.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engramdb.core.errors import ConfigError
from engramdb.core.ports import Store

STORES = ("sqlite", "postgresql")

# SQLite object name -> part of the database (first match wins)
_SQLITE_PARTS = (("fts_turns", re.compile(r"^memories_fts")), ("fts_windows", re.compile(r"^windows_fts")),
                 ("memories_rows", re.compile(r"^memories$")),
                 ("memories_indexes", re.compile(r"^(memories_|sqlite_autoindex_memories)")),
                 ("history", re.compile(r"history")), ("jobs", re.compile(r"^(jobs|job_log)")))


@dataclass
class Target:
    """One fresh database of one store kind: ``open`` gives the store, ``disk`` its bytes."""

    kind: str
    open: Callable[[], Store]
    disk: Callable[[Store], dict[str, Any]]
    drop: Callable[[], None]
    where: str
    #: rebuilds the store's vector indexes from scratch and says how long it took (PostgreSQL:
    #: REINDEX of the HNSW indexes, which the writes otherwise fill row by row); None: none
    rebuild: Callable[[], dict[str, Any]] | None = None
    dense: str = "exact"  # what answers a dense list when no ANN tier is found on the store


def sqlite_target(work: Path, label: str) -> Target:
    path = work / f"{label}.db"

    def open_store() -> Store:
        from engramdb.stores.sqlite import SQLiteStore

        return SQLiteStore(path)

    def drop() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(f"{path}.ann", ignore_errors=True)  # the ANN tier's files (ann_index.py)

    return Target("sqlite", open_store, lambda store: sqlite_disk(store, path), drop, str(path))


def sqlite_disk(store: Store, path: Path) -> dict[str, Any]:
    """File bytes after a WAL checkpoint, and the pages of each part (SQLite's dbstat)."""
    conn = getattr(store, "conn", None)
    db = conn.db if conn is not None else None
    if db is None:
        raise ConfigError("not a SQLite store")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    parts: dict[str, int] = {}
    for name, size in db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
        part = next((p for p, pattern in _SQLITE_PARTS if pattern.search(name)), "other")
        parts[part] = parts.get(part, 0) + int(size)
    vectors, texts = db.execute("SELECT COALESCE(SUM(LENGTH(embedding)), 0), "
                                "COALESCE(SUM(LENGTH(CAST(content AS BLOB))), 0) FROM memories").fetchone()
    files = sum(os.path.getsize(f"{path}{s}") for s in ("", "-wal", "-shm") if os.path.exists(f"{path}{s}"))
    ann = Path(f"{path}.ann")
    if ann.is_dir():  # the ANN tier's graphs, beside the file
        parts["ann_index"] = sum(f.stat().st_size for f in ann.iterdir() if f.is_file())
        files += parts["ann_index"]
    return {"bytes": files, "parts": parts, "vector_bytes": int(vectors), "content_bytes": int(texts)}


def postgres_target(server_url: str, label: str) -> Target:
    """A database ``label`` created on the server ``server_url`` names (dropped by ``drop``)."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError as exc:
        raise ConfigError("the PostgreSQL bench needs psycopg (pip install engramdb[postgres])") from exc
    base, _, _ = server_url.rpartition("/")
    url = f"{base}/{label}"

    def admin(statement: Any) -> None:
        with psycopg.connect(server_url, autocommit=True) as db:
            db.execute(statement)

    def open_store() -> Store:
        from engramdb.registry import open_store as registry_store

        admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(label)))
        admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(label)))
        return registry_store(url)

    def disk(store: Store) -> dict[str, Any]:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("VACUUM ANALYZE")
            total = db.execute("SELECT pg_database_size(current_database())").fetchone()
            # tables without their indexes (TOAST included), each index on its own: no byte counted twice
            rel = db.execute("SELECT c.relname, c.relkind, CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) "
                             "ELSE pg_table_size(c.oid) END FROM pg_class c "
                             "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                             "AND c.relkind IN ('r', 'i', 'm')").fetchall()
        parts = {f"{name} ({'index' if kind == 'i' else 'table'})": int(size) for name, kind, size in rel}
        return {"bytes": int(total[0]) if total else 0, "parts": parts}

    def rebuild() -> dict[str, Any]:
        with psycopg.connect(url, autocommit=True) as db:
            names = [r[0] for r in db.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                                              "AND indexname LIKE 'vectors_hnsw_%'").fetchall()]
            t0 = time.perf_counter()
            for name in names:
                db.execute(sql.SQL("REINDEX INDEX {}").format(sql.Identifier(name)))
            seconds = time.perf_counter() - t0
        return {"what": "REINDEX of the HNSW indexes (pgvector), after the fill", "indexes": len(names),
                "seconds": round(seconds, 3)}

    def drop() -> None:
        admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(label)))

    return Target("postgresql", open_store, disk, drop, url, rebuild, "hnsw")


def ann_tier(store: Store) -> Any | None:
    """The store's ANN tier when it has one switched on (SQLite: ``store.ann``, ann_index.py),
    else None. Its ``min_vectors`` is the scope size from which dense lists read the graph;
    setting it to None makes them exact again (the harness's exact mode), ``wait()`` waits for
    the builds a search started, ``loaded()`` counts the scope indexes held."""
    tier = getattr(store, "ann", None)
    return tier if tier is not None and getattr(tier, "min_vectors", None) else None


def rss_mb() -> float:
    """This process's resident set now (Linux /proc), MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def reset_peak_rss() -> bool:
    """Start the peak RSS over from now (Linux: ``5`` to /proc/self/clear_refs), so a run's peak
    leaves out loading the data files; False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """The peak resident set since ``reset_peak_rss`` (VmHWM), else since the process started."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
