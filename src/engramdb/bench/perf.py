"""``engram bench perf``: write and search speed of the embedded default.

Measures, with the configured embedder (default: the packaged local model):
- ``add()`` of one message: p50/p95 over N single-message calls;
- bulk import throughput (turns/s) of the LoCoMo dev file through the public API;
- ``search`` p50/p95 (query embedding included) in one scope of 10k and 100k
  memories. Those scopes are built from the real LoCoMo turns: each synthetic
  memory is a real turn with a unique suffix, and its vector is the real
  turn's vector plus small Gaussian noise (re-normalised). That keeps text and
  vector distributions realistic without embedding 100k texts first.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from engramdb.bench.common import machine, percentiles, write_json
from engramdb.cli.importing import write_batches
from engramdb.core.models import Kind, Scope
from engramdb.core.ports import Keys
from engramdb.engine.ingest import Draft, build_records
from engramdb.engine.memory import Memory
from engramdb.formats.base import load_json
from engramdb.formats.detect import parse_file
from engramdb.formats.locomo import conversation_turns

SESSION_TURNS = 20  # turns per session in the filler scopes (LoCoMo sessions hold ~20)


def run_perf(locomo: Path, *, embedder: str | None, sizes: list[int], single_adds: int, queries: int,
             out_dir: Path, seed: int = 0) -> dict[str, Any]:
    console = Console(stderr=True)
    work = Path(tempfile.mkdtemp(prefix="engram-perf-"))
    result: dict[str, Any] = {"machine": machine(), "data": str(locomo)}
    parsed = parse_file(locomo, fmt="locomo")
    samples = load_json(locomo)
    texts = [t.content for i, s in enumerate(samples) for t in conversation_turns(s, locomo, f"sample {i}")]
    questions = [q["question"] for s in samples for q in s["qa"]][:queries]

    with Memory(work / "bulk.db", embedder=embedder) as mem:
        result["embedder"] = mem.embedder.model_id
        console.print(f"bulk import of {sum(len(b.messages) for b in parsed.batches)} turns ...")
        t0 = time.perf_counter()
        n = write_batches(mem, parsed.batches, show=console.is_terminal)
        mem.flush()
        secs = time.perf_counter() - t0
        result["bulk_import"] = {"turns": n, "seconds": round(secs, 2), "turns_per_s": round(n / secs, 1)}
        stored = [r for user in sorted({b.user_id for b in parsed.batches if b.user_id})
                  for r in mem.list(user_id=user, limit=1_000_000)]
        texts = [r.content for r in stored]
        base_keys = [_stored(mem, r.index_hash) for r in stored]

    with Memory(work / "single.db", embedder=embedder) as mem:
        lat = []
        for i in range(single_adds):
            text = f"{texts[i % len(texts)]} (message {i})"  # unique, so nothing is reused from cache
            t0 = time.perf_counter()
            mem.add([{"role": "user", "content": text}], user_id="perf")
            lat.append((time.perf_counter() - t0) * 1000)
        result["add_one_message"] = percentiles(lat)

    rng = np.random.default_rng(seed)
    result["search"] = {}
    for size in sizes:
        console.print(f"search in a scope of {size} memories ...")
        with Memory(work / f"scope{size}.db", embedder=embedder) as mem:
            _fill(mem, texts, base_keys, size, rng)
            cold_t0 = time.perf_counter()
            mem.search(questions[0], user_id="perf", budget_tokens=1000)
            cold = (time.perf_counter() - cold_t0) * 1000
            lat = []
            for q in questions:
                t0 = time.perf_counter()
                mem.search(q, user_id="perf", budget_tokens=1000)
                lat.append((time.perf_counter() - t0) * 1000)
            result["search"][str(size)] = {**percentiles(lat), "first_query_ms": round(cold, 1)}
    shutil.rmtree(work, ignore_errors=True)  # the 100k scope alone is ~330 MB
    write_json(out_dir, "perf.json", result)
    _print(result)
    return result


def _stored(mem: Memory, index_hash: str) -> Keys:
    keys = mem.store.vector_for_hash(index_hash, mem.embedder.model_id, mem.embedder.dim)
    assert keys is not None, "bulk import stored every turn's vectors"
    return keys


def _fill(mem: Memory, texts: list[str], keys: list[Keys], size: int, rng: np.random.Generator) -> None:
    """``size`` conversational turns for one user, in sessions of SESSION_TURNS (so episode windows
    exist), each with the (slightly perturbed) vectors and sentence keys of a real LoCoMo turn."""
    for start in range(0, size, 2000):
        idx = list(range(start, min(size, start + 2000)))
        records = []
        for first in range(start, idx[-1] + 1, SESSION_TURNS):
            part = [i for i in idx if first <= i < first + SESSION_TURNS]
            drafts = [Draft(f"{texts[i % len(texts)]} (#{i})", "user", None, None, {}) for i in part]
            scope = Scope(user_id="perf", session_id=f"s{first // SESSION_TURNS}")
            records += build_records(drafts, scope=scope, kind=Kind.TURN, timestamp=None, metadata={})
        vecs = []
        for i in idx:
            base = keys[i % len(texts)]
            noisy = base + rng.normal(0, 0.02, size=base.shape).astype(np.float32)
            vecs.append((noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32))
        mem.store.add(records, vecs, mem.embedder.model_id)


def _print(result: dict[str, Any]) -> None:
    table = Table(title=f"engram bench perf ({result['embedder']})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    add = result["add_one_message"]
    table.add_row("add() one message p50 / p95", f"{add['p50_ms']:.1f} / {add['p95_ms']:.1f} ms")
    bulk = result["bulk_import"]
    table.add_row("bulk import (LoCoMo dev)", f"{bulk['turns_per_s']:.0f} turns/s ({bulk['turns']} turns)")
    for size, s in result["search"].items():
        table.add_row(f"search p50 / p95, {int(size):,} memories",
                      f"{s['p50_ms']:.1f} / {s['p95_ms']:.1f} ms (first {s['first_query_ms']:.0f} ms)")
    Console().print(table)
