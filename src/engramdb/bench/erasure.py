"""``engram bench erasure``: what a delete that leaves nothing costs, and proof that it does.

For each size, a SQLite file of that many memories (10 users; 80% turns in sessions of 20,
so episode windows exist, 20% notes; 20 Zipf-distributed words each plus one unique token;
a 384-dim vector and one sentence key per memory) is built, then:
- ``delete(id)`` of single turns and notes: ms per call, commit and WAL truncation included;
- the same deletes on a copy of the file with the full-text rewrite switched off, so the
  difference is what leaving nothing costs;
- ``forget_user`` of two users: ms per call and per memory;
- after close, the raw bytes of the file (and -wal/-shm, if left) are searched for the unique
  token of every erased memory: the number of hits is reported (0 is the promise).
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from engramdb.bench.common import machine, write_json
from engramdb.core.models import Kind, MemoryRecord, Scope
from engramdb.engine.ingest import Draft, build_records
from engramdb.stores import sqlite_erasure
from engramdb.stores.sqlite import SQLiteStore

USERS = 10
SESSION_TURNS = 20
DIM = 384
MODEL = "bench-random"


def run_erasure(*, sizes: list[int], deletes: int, out_dir: Path, seed: int = 0) -> dict[str, Any]:
    console = Console(stderr=True)
    result: dict[str, Any] = {"machine": machine(), "deletes_per_kind": deletes, "sizes": {}}
    work = Path(tempfile.mkdtemp(prefix="engram-erasure-"))
    try:
        for size in sizes:
            console.print(f"erasure at {size:,} memories ...")
            result["sizes"][str(size)] = _one_size(work / str(size), size, deletes, random.Random(seed))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_json(out_dir, "erasure.json", result)
    _print(result)
    return result


def _one_size(folder: Path, size: int, deletes: int, rng: random.Random) -> dict[str, Any]:
    folder.mkdir(parents=True)
    path, plain = folder / "erase.db", folder / "plain.db"
    t0 = time.perf_counter()
    records = _build(path, size, rng)
    build_s = time.perf_counter() - t0
    shutil.copy(path, plain)
    turns = [r for r in records if r.kind is Kind.TURN]
    notes = [r for r in records if r.kind is Kind.NOTE]
    picked = {"turn": rng.sample(turns, deletes), "note": rng.sample(notes, deletes)}
    out: dict[str, Any] = {"build_s": round(build_s, 1), "file_mb": round(path.stat().st_size / 1e6, 1)}

    store = SQLiteStore(path)
    try:
        for kind, recs in picked.items():
            out[f"delete_{kind}_ms"] = _stats(_time_deletes(store, recs))
        forgotten = [f"user{u}" for u in range(2)]
        per_call, per_memory = [], []
        for user in forgotten:
            n = sum(1 for r in records if r.scope.user_id == user)
            t = time.perf_counter()
            store.delete_scope(Scope(user_id=user))
            ms = (time.perf_counter() - t) * 1000
            per_call.append(ms)
            per_memory.append(ms / n)
        out["forget_user_ms"] = _stats(per_call)
        out["forget_user_ms_per_memory"] = _stats(per_memory)
    finally:
        store.close()
    erased = [r for recs in picked.values() for r in recs] + [r for r in records if r.scope.user_id in forgotten]
    out["erased_memories"] = len(erased)
    out["raw_byte_hits"] = _hits(path, [_token(r) for r in erased])

    with _without_scrub():
        store = SQLiteStore(plain)
        try:
            for kind, recs in picked.items():
                out[f"delete_{kind}_no_fts_rewrite_ms"] = _stats(_time_deletes(store, recs))
        finally:
            store.close()
    out["raw_byte_hits_no_fts_rewrite"] = _hits(plain, [_token(r) for recs in picked.values() for r in recs])
    return out


def _build(path: Path, size: int, rng: random.Random) -> list[MemoryRecord]:
    vocab = [f"w{i}" + "".join(rng.choice("aeioulmnrst") for _ in range(4)) for i in range(5000)]
    weights = [1 / (i + 1) for i in range(len(vocab))]
    vectors = np.random.default_rng(rng.randrange(2**32))
    store = SQLiteStore(path)
    out: list[MemoryRecord] = []
    try:
        made = 0
        while made < size:
            user = f"user{(made // SESSION_TURNS) % USERS}"
            count = min(SESSION_TURNS, size - made)
            kind = Kind.NOTE if (made // SESSION_TURNS) % 5 == 4 else Kind.TURN
            drafts = [Draft(" ".join(rng.choices(vocab, weights, k=20)) + " " + _unique(rng), "user",
                            None, None, {}) for i in range(count)]
            scope = Scope(user_id=user, session_id=f"s{made // SESSION_TURNS}" if kind is Kind.TURN else None)
            recs = build_records(drafts, scope=scope, kind=kind, timestamp=None, metadata={})
            keys = vectors.normal(size=(count, 2, DIM)).astype(np.float32)
            keys /= np.linalg.norm(keys, axis=2, keepdims=True)
            store.add(recs, list(keys), MODEL)
            out += recs
            made += count
    finally:
        store.close()
    return out


def _time_deletes(store: SQLiteStore, records: list[MemoryRecord]) -> list[float]:
    samples = []
    for rec in records:
        t = time.perf_counter()
        store.delete(rec.id)
        samples.append((time.perf_counter() - t) * 1000)
    return samples


@contextmanager
def _without_scrub() -> Iterator[None]:
    """The baseline: a delete that leaves the full-text indexes' old segments in place."""
    scrub = sqlite_erasure.scrub
    sqlite_erasure.scrub = lambda db, *, windows: None
    try:
        yield
    finally:
        sqlite_erasure.scrub = scrub


def _unique(rng: random.Random) -> str:
    """A token the tokenizer and the stemmer keep whole (it ends in a digit), unlike any other."""
    return "q" + "".join(rng.choice("bcdfghjkmnpqrstvwxz0123456789") for _ in range(14)) + "7"


def _token(rec: MemoryRecord) -> str:
    return rec.content.rsplit(" ", 1)[1]


def _hits(path: Path, tokens: list[str]) -> int:
    """Occurrences of each token's last 9 characters: the full-text index stores a term after
    the prefix it shares with the term before it."""
    blobs = [p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    return sum(b.count(t[-9:].encode()) for b in blobs for t in tokens)


def _stats(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "min": round(min(samples), 2), "median": round(statistics.median(samples), 2),
            "max": round(max(samples), 2)}


def _print(result: dict[str, Any]) -> None:
    table = Table(title="engram bench erasure (ms: min / median / max)")
    for column in ("memories", "delete turn", "delete note", "turn, no FTS rewrite", "note, no FTS rewrite",
                   "forget_user", "per memory", "byte hits"):
        table.add_column(column, justify="right")
    for size, r in result["sizes"].items():
        def fmt(s: dict[str, float]) -> str:
            return f"{s['min']:.1f} / {s['median']:.1f} / {s['max']:.1f}"
        table.add_row(f"{int(size):,}", fmt(r["delete_turn_ms"]), fmt(r["delete_note_ms"]),
                      fmt(r["delete_turn_no_fts_rewrite_ms"]), fmt(r["delete_note_no_fts_rewrite_ms"]),
                      fmt(r["forget_user_ms"]), f"{r['forget_user_ms_per_memory']['median']:.3f}",
                      f"{r['raw_byte_hits']} (without rewrite {r['raw_byte_hits_no_fts_rewrite']})")
    Console().print(table)
