"""``engram bench embed``: document-embedding throughput of the local models, and what a
background embedding thread costs a concurrent query.

Workloads are real turns, embedded the way a write embeds them: each turn's index text
(``speaker: content``) plus its sentence keys (engine/keys.py), in calls of ``call_turns``
turns (a worker's claim, or one import batch):
- ``locomo``: LoCoMo dev turns, evenly spaced over the file;
- ``longmemeval``: LongMemEval dev turns (long chat turns; many are cut at 256 tokens),
  evenly spaced over the haystacks of the first questions.

For each model x intra-op threads x batch size, ``repeats`` timed passes give texts/s and
turns/s (min / median / max), plus texts per CPU-second (steadier on a shared machine); passes
are interleaved over the setups, so ratios measured in one run are comparable. Then, for the
concurrency table, a thread embeds LoCoMo turns without pause while the main thread embeds one
query every ``QUERY_GAP_S``, alternating with idle phases ``CONCURRENT_ROUNDS`` times; the
query latency (p50 / p95) idle and under load and the background texts/s are reported for a
shared embedder (one onnxruntime session used by both) with 1 and 2 threads, and for a worker
with its own 1-thread session next to a 2-thread query session.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from engramdb.bench.common import machine, percentiles, write_json
from engramdb.core.models import Kind, Scope
from engramdb.embedders.local import LocalEmbedder
from engramdb.engine.ingest import build_records, drafts_from
from engramdb.engine.keys import sentence_keys
from engramdb.formats.base import Batch, load_json
from engramdb.formats.locomo import locomo_batches
from engramdb.formats.longmemeval import longmemeval_batches

QUERY_GAP_S = 0.02  # between concurrent queries: searches arriving, not a closed loop
LONGMEMEVAL_QUESTIONS = 3  # haystacks the LongMemEval turns are drawn from
CONCURRENT_QUERIES = 40  # per phase
CONCURRENT_ROUNDS = 3


@dataclass(frozen=True)
class Workload:
    name: str
    turns: list[list[str]]  # per turn: its index text, then its sentence keys

    @property
    def texts(self) -> int:
        return sum(len(t) for t in self.turns)


@dataclass(frozen=True)
class Setup:
    model: str
    threads: int
    batch_size: int


def turn_texts(batches: Sequence[Batch], limit: int) -> list[list[str]]:
    """``limit`` turns evenly spaced over ``batches``, each as [index text, *sentence keys]."""
    turns = []
    for batch in batches:
        records = build_records(drafts_from(batch.messages, role=None, speaker=None),
                                scope=Scope(user_id=batch.user_id or "bench"), kind=Kind.TURN, timestamp=None,
                                metadata={})
        turns += [[r.index_text, *sentence_keys(r.content)] for r in records]
    step = max(1, len(turns) // limit)
    return turns[::step][:limit]


def load_workloads(locomo: Path | None, longmemeval: Path | None, limit: int) -> list[Workload]:
    out = []
    if locomo is not None:
        data = load_json(locomo)
        out.append(Workload("locomo", turn_texts(locomo_batches(data, locomo, user_id=None, agent_id=None), limit)))
    if longmemeval is not None:
        items = load_json(longmemeval)[:LONGMEMEVAL_QUESTIONS]
        batches = longmemeval_batches(items, longmemeval, user_id=None, agent_id=None)
        out.append(Workload("longmemeval", turn_texts(batches, limit)))
    return out


def embed_pass(emb: LocalEmbedder, work: Workload, call_turns: int) -> tuple[float, float]:
    """Wall and process CPU seconds to embed every text of ``work`` in calls of ``call_turns``
    turns. CPU seconds are the steadier number on a shared machine: a neighbour's load
    stretches the wall time of a pass much more than its CPU time."""
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(work.turns), call_turns):
        emb.embed_documents([t for turn in work.turns[start:start + call_turns] for t in turn])
    return time.perf_counter() - t0, time.process_time() - c0


def _stats(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 1), "median": round(statistics.median(values), 1), "max": round(max(values), 1)}


def throughput(setups: Sequence[Setup], workloads: Sequence[Workload], *, repeats: int, call_turns: int,
               console: Console) -> list[dict[str, Any]]:
    """Passes are interleaved over setups (repeat 1 of every setup, then repeat 2, ...), so a noisy
    neighbour slows every setup alike and the ratios of one run stay comparable."""
    embedders = {s: LocalEmbedder.load(s.model, threads=s.threads, batch_size=s.batch_size) for s in setups}
    secs: dict[tuple[Setup, str], list[tuple[float, float]]] = {}
    for emb in embedders.values():  # warm-up: first runs allocate
        emb.embed_documents([t for turn in workloads[0].turns[:call_turns] for t in turn])
    for r in range(repeats):
        console.print(f"throughput pass {r + 1}/{repeats} ...")
        for work in workloads:
            for setup, emb in embedders.items():
                secs.setdefault((setup, work.name), []).append(embed_pass(emb, work, call_turns))
    rows = []
    for (setup, name), times in secs.items():
        work = next(w for w in workloads if w.name == name)
        rows.append({"model": embedders[setup].model_id, "threads": setup.threads, "batch_size": setup.batch_size,
                     "workload": name, "turns": len(work.turns), "texts": work.texts,
                     "texts_per_s": _stats([work.texts / wall for wall, _ in times]),
                     "turns_per_s": _stats([len(work.turns) / wall for wall, _ in times]),
                     "texts_per_cpu_s": _stats([work.texts / cpu for _, cpu in times]),
                     "cores_used": round(statistics.median(cpu / wall for wall, cpu in times), 2),
                     "seconds": [round(wall, 2) for wall, _ in times]})
    return rows


def speedups(rows: Sequence[dict[str, Any]], base: str) -> list[dict[str, Any]]:
    """Median texts/s of each other model over ``base`` at equal threads, batch and workload."""
    ref = {(r["threads"], r["batch_size"], r["workload"]): r for r in rows if r["model"] == base}
    out = []
    for r in rows:
        b = ref.get((r["threads"], r["batch_size"], r["workload"]))
        if r["model"] != base and b is not None:
            out.append({"model": r["model"], "over": base, "threads": r["threads"], "batch_size": r["batch_size"],
                        "workload": r["workload"],
                        "texts_per_s": round(r["texts_per_s"]["median"] / b["texts_per_s"]["median"], 2),
                        "texts_per_cpu_s": round(r["texts_per_cpu_s"]["median"] / b["texts_per_cpu_s"]["median"], 2)})
    return out


def concurrent_queries(model: str, work: Workload, queries: Sequence[str], *, call_turns: int,
                       rounds: int = CONCURRENT_ROUNDS) -> list[dict[str, Any]]:
    """Query latency alone and while a background thread embeds ``work`` without pause; the two
    phases alternate ``rounds`` times, so a neighbour's load falls on both alike."""
    rows = []
    for label, worker_threads, query_threads, shared in (("shared session, 1 thread", 1, 1, True),
                                                         ("shared session, 2 threads", 2, 2, True),
                                                         ("worker 1 thread + query 2 threads", 1, 2, False)):
        query_emb = LocalEmbedder.load(model, threads=query_threads)
        worker_emb = query_emb if shared else LocalEmbedder.load(model, threads=worker_threads)
        idle: list[float] = []
        busy: list[float] = []
        rates = []
        for _ in range(rounds):
            idle += _query_latencies(query_emb, queries)
            loaded, rate = _under_load(query_emb, worker_emb, work, queries, call_turns)
            busy += loaded
            rates.append(rate)
        rows.append({"setup": label, "model": query_emb.model_id, "worker_threads": worker_threads,
                     "query_threads": query_threads, "shared_session": shared, "query_idle": percentiles(idle),
                     "query_under_load": percentiles(busy),
                     "worker_texts_per_s": round(statistics.median(rates), 1)})
    return rows


def _under_load(query_emb: LocalEmbedder, worker_emb: LocalEmbedder, work: Workload, queries: Sequence[str],
                call_turns: int) -> tuple[list[float], float]:
    """Query latencies while a thread embeds ``work`` in a loop, and that thread's texts/s."""
    done = [0]
    stop = threading.Event()

    def background() -> None:
        while not stop.is_set():
            for start in range(0, len(work.turns), call_turns):
                if stop.is_set():
                    return
                texts = [t for turn in work.turns[start:start + call_turns] for t in turn]
                worker_emb.embed_documents(texts)
                done[0] += len(texts)

    thread = threading.Thread(target=background, daemon=True)
    thread.start()
    time.sleep(0.5)  # the worker is mid-batch when queries start
    t0, before = time.perf_counter(), done[0]
    busy = _query_latencies(query_emb, queries)
    rate = (done[0] - before) / (time.perf_counter() - t0)
    stop.set()
    thread.join()
    return busy, rate


def _query_latencies(emb: LocalEmbedder, queries: Sequence[str]) -> list[float]:
    out = []
    for q in queries:
        t0 = time.perf_counter()
        emb.embed_query(q)
        out.append((time.perf_counter() - t0) * 1000)
        time.sleep(QUERY_GAP_S)
    return out


def run_embed(locomo: Path | None, longmemeval: Path | None, *, models: Sequence[str], threads: Sequence[int],
              batch_sizes: Sequence[int], limit: int, repeats: int, call_turns: int, concurrency: bool,
              out_dir: Path) -> dict[str, Any]:
    console = Console(stderr=True)
    workloads = load_workloads(locomo, longmemeval, limit)
    result: dict[str, Any] = {
        "machine": machine(), "call_turns": call_turns, "repeats": repeats,
        "workloads": {w.name: {"turns": len(w.turns), "texts": w.texts,
                               "chars_per_text": round(sum(len(t) for x in w.turns for t in x) / w.texts, 1)}
                      for w in workloads}}
    setups = [Setup(m, t, b) for m in models for t in threads for b in batch_sizes]
    result["throughput"] = throughput(setups, workloads, repeats=repeats, call_turns=call_turns, console=console)
    result["speedup"] = speedups(result["throughput"], result["throughput"][0]["model"])
    if concurrency and workloads:
        queries = _questions(locomo) or [t[0] for t in workloads[0].turns[:CONCURRENT_QUERIES]]
        result["concurrent_query"] = []
        for model in models:
            console.print(f"query latency under a background embedding thread ({model}) ...")
            result["concurrent_query"] += concurrent_queries(model, workloads[0], queries, call_turns=call_turns)
    write_json(out_dir, "embed.json", result)
    _print(result, console)
    return result


def _questions(locomo: Path | None) -> list[str]:
    if locomo is None:
        return []
    return [str(q["question"]) for s in load_json(locomo) for q in s["qa"]][:CONCURRENT_QUERIES]


def _print(result: dict[str, Any], console: Console) -> None:
    table = Table(title=f"engram bench embed (calls of {result['call_turns']} turns, {result['repeats']} repeats; "
                  "medians)")
    for col in ("model", "threads", "batch", "workload", "texts/s min/med", "turns/s", "texts/cpu-s", "cores"):
        table.add_column(col, justify="left" if col in ("model", "workload") else "right")
    for row in result["throughput"]:
        tps, turns = row["texts_per_s"], row["turns_per_s"]
        table.add_row(row["model"].removeprefix("local:"), str(row["threads"]), str(row["batch_size"]),
                      row["workload"], f"{tps['min']:.0f}/{tps['median']:.0f}", f"{turns['median']:.0f}",
                      f"{row['texts_per_cpu_s']['median']:.0f}", f"{row['cores_used']:.2f}")
    Console().print(table)
    for sp in result["speedup"]:
        Console().print(f"{sp['model'].removeprefix('local:')} / {sp['over'].removeprefix('local:')}, "
                        f"{sp['threads']} thread(s), batch {sp['batch_size']}, {sp['workload']}: "
                        f"{sp['texts_per_s']:.2f}x texts/s, {sp['texts_per_cpu_s']:.2f}x texts/cpu-s")
    if result.get("concurrent_query"):
        table = Table(title="embed_query while a thread embeds documents (ms)")
        for col in ("model", "setup", "idle p50 / p95", "under load p50 / p95", "worker texts/s"):
            table.add_column(col, justify="left" if col in ("model", "setup") else "right")
        for row in result["concurrent_query"]:
            idle, busy = row["query_idle"], row["query_under_load"]
            table.add_row(row["model"].removeprefix("local:"), row["setup"],
                          f"{idle['p50_ms']:.1f} / {idle['p95_ms']:.1f}",
                          f"{busy['p50_ms']:.1f} / {busy['p95_ms']:.1f}", f"{row['worker_texts_per_s']:.0f}")
        Console().print(table)
