"""The write side of ``engram bench perf``: one ``add()`` acknowledged, a bulk import and its
embedding catch-up.

Every measure runs on a new SQLite file and a plain embedder instance shared by the run
(loaded and warmed up once, so no model load is in any figure, and no embedding cache:
every vector is really computed). Vectors reused by content hash inside one store are
real behaviour and stay in.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engramdb.bench.common import percentiles
from engramdb.core.jobs import EMBED_STAGE, EMBED_VERSION
from engramdb.core.models import Kind, MemoryRecord, Scope
from engramdb.core.ports import Embedder, Keys
from engramdb.engine.ingest import build_records, drafts_from
from engramdb.engine.keys import sentence_keys
from engramdb.engine.memory import Memory
from engramdb.formats.base import Batch
from engramdb.pipeline.worker import WorkerOptions

WARMUP_ADDS = 20  # adds (and a flush) before the timed ones: first statements, first worker batch


def add_latency(embedder: Embedder, texts: Sequence[str], n: int, path: Path, *, background: bool) -> dict[str, Any]:
    """``n`` single-message adds of unique texts, each timed until ``add`` returns (acknowledged).
    In background mode the worker thread embeds while the adds go on, as it would in use;
    ``flush_s`` is how long the flush after the last add then waited for it. ``cpu_*``: the
    calling thread's CPU time per add; on a loaded machine, wall time well above it is time
    the thread waited (for a core, the GIL, the write lock), not work."""
    with Memory(path, embedder=embedder, background=background) as mem:
        for i in range(WARMUP_ADDS):
            mem.add([{"role": "user", "content": f"{texts[i % len(texts)]} (warm-up {i})"}], user_id="perf-warm")
        mem.flush()
        lat, cpu = [], []
        for i in range(n):
            text = f"{texts[i % len(texts)]} (message {i})"  # unique: nothing reused by content hash
            t0, c0 = time.perf_counter(), time.thread_time()
            mem.add([{"role": "user", "content": text}], user_id="perf")
            lat.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
        t0 = time.perf_counter()
        report = mem.flush()
        flush_s = time.perf_counter() - t0
    if report.failed or report.remaining:
        raise RuntimeError(f"flush after the adds left {report.remaining} jobs, {report.failed} failed")
    cpu_p = percentiles(cpu)
    return {**percentiles(lat), "cpu_p50_ms": cpu_p["p50_ms"], "cpu_p95_ms": cpu_p["p95_ms"],
            "adds_s": round(sum(lat) / 1000, 3), "flush_s": round(flush_s, 3)}


def import_run(embedder: Embedder, batches: Sequence[Batch], path: Path,
               keep_keys: bool = False) -> tuple[dict[str, Any], list[tuple[str, Keys]]]:
    """``Memory.add_many`` (the path of ``engram import``) acknowledged, then the flush until
    every turn is vector-searchable. The worker starts on the first write, so it embeds during
    the import too: ``embed_turns_per_s`` is turns / time from the first write until flushed,
    and ``worker_turns_per_s`` turns / the seconds the worker spent in its batches.
    With ``keep_keys``, also each stored turn's text and keys (whole text, then sentences)."""
    with Memory(path, embedder=embedder) as mem:
        t0 = time.perf_counter()
        turns = mem.add_many(list(batches))
        acked = time.perf_counter() - t0
        report = mem.flush()
        searchable = time.perf_counter() - t0
        if report.failed or report.remaining:
            raise RuntimeError(f"flush after the import left {report.remaining} jobs, {report.failed} failed")
        busy = next((s.busy_seconds_last_hour for s in mem.status().stages if s.stage == EMBED_STAGE), 0.0)
        stored = stored_keys(mem, sorted({b.user_id for b in batches if b.user_id}))
    vectors = sum(k.shape[0] for _, k in stored)
    if len(stored) != turns:
        raise RuntimeError(f"{turns} turns written, {len(stored)} found with vectors")
    out = {
        "turns": turns, "vectors": vectors, "sessions": len(batches),
        "acknowledged_s": round(acked, 3), "acknowledged_turns_per_s": round(turns / acked, 1),
        "flush_s": round(report.seconds, 3), "searchable_s": round(searchable, 3),
        "embed_turns_per_s": round(turns / searchable, 1), "embed_vectors_per_s": round(vectors / searchable, 1),
        "worker_busy_s": round(busy, 3),
        "worker_turns_per_s": round(turns / busy, 1) if busy > 0 else None,
        "worker_vectors_per_s": round(vectors / busy, 1) if busy > 0 else None,
    }
    return out, stored if keep_keys else []


def stored_keys(mem: Memory, users: Sequence[str]) -> list[tuple[str, Keys]]:
    """(content, stored keys) of every current turn of these users (derived facts aside)."""
    model, dim = mem.embedder.model_id, mem.embedder.dim
    out = []
    for user in users:
        records = mem.list(user_id=user, limit=1_000_000, kinds=["turn"])
        stored = mem.store.vectors_for_hashes([rec.index_hash for rec in records], model, dim, EMBED_VERSION)
        for rec in records:
            keys = stored.get(rec.index_hash)
            if keys is None:
                raise RuntimeError(f"memory {rec.id} has no vectors after the flush")
            out.append((rec.content, keys))
    return out


def model_only(embedder: Embedder, batches: Sequence[Batch], turns: int) -> dict[str, Any]:
    """The embedder alone on the first ``turns`` turns: the texts the embed stage gives it (whole
    index text, then sentence keys), ``embed_documents`` per claim-sized group of turns. The
    ceiling of the catch-up on this machine at this moment, measured next to it."""
    records: list[MemoryRecord] = []
    for b in batches:
        if len(records) >= turns:
            break
        records += build_records(drafts_from(b.messages, role=None, speaker=None),
                                 scope=Scope(b.user_id, b.agent_id, b.session_id), kind=Kind.TURN, timestamp=None,
                                 metadata={})
    records = records[:turns]
    group = WorkerOptions().batch
    vectors = 0
    t0 = time.perf_counter()
    for start in range(0, len(records), group):
        texts = [t for r in records[start:start + group] for t in (r.index_text, *sentence_keys(r.content))]
        vectors += len(embedder.embed_documents(texts))
    secs = time.perf_counter() - t0
    return {"turns": len(records), "vectors": vectors, "seconds": round(secs, 3),
            "turns_per_s": round(len(records) / secs, 1), "vectors_per_s": round(vectors / secs, 1)}
