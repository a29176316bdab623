"""``engram bench serve``: sustained load on real ``engram serve`` processes over loopback.

For each topology (``one``: one server with its background worker threads; ``two``: two server
processes on one SQLite file with ``--worker-threads 0`` and a separate ``engram worker``),
it starts the processes on free loopback ports, imports the LoCoMo dev conversations through
the HTTP API (LoCoMo-size scopes, ~550 turns each) and waits until they are embedded, then
runs ``clients`` closed-loop clients for ``seconds`` in three phases: adds only, searches only
(real LoCoMo questions, 1,000-token budget, query embedding included) and a 1:4 mix. After
each phase it flushes and records how long the embedding catch-up took. Everything stops by
itself; nothing listens beyond 127.0.0.1. With py-spy installed, ``--profile`` samples one
server during the search phase and says where a search's time goes."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from engramdb.bench.common import machine, write_json
from engramdb.bench.load_client import Workload, run_phase
from engramdb.bench.profile_stacks import profile_server
from engramdb.formats.base import Batch, load_json
from engramdb.formats.detect import parse_file

PHASES = (("adds", 1, 0), ("searches", 0, 1), ("mix 1:4", 1, 4))
TOPOLOGIES = ("one", "two")


def run_serve_load(locomo: Path, *, embedder: str | None, clients: int, seconds: float, out_dir: Path,
                   topologies: Sequence[str] = TOPOLOGIES, profile: bool = False,
                   conversations: int | None = None) -> dict[str, Any]:
    console = Console(stderr=True)
    batches = parse_file(locomo, fmt="locomo").batches
    samples = load_json(locomo)
    users = sorted({b.user_id for b in batches if b.user_id})[:conversations]
    batches = [b for b in batches if b.user_id in users]
    work = Workload(turns=[str(m["content"]) for b in batches for m in b.messages],
                    questions=[(str(s["sample_id"]), str(q["question"])) for s in samples
                               if s.get("sample_id") in users for q in s["qa"]])
    result: dict[str, Any] = {"machine": machine(), "command": sys.argv, "clients": clients, "seconds": seconds,
                              "embedder": embedder or "local (default)", "load_before": os.getloadavg(),
                              "scopes": {"conversations": len(users), "turns": len(work.turns)}, "runs": {}}
    for topology in topologies:
        console.print(f"[bold]{topology}[/bold]: starting ...")
        result["runs"][topology] = _topology(topology, batches, work, embedder=embedder, clients=clients,
                                             seconds=seconds, profile=profile, console=console)
    result["load_after"] = os.getloadavg()
    write_json(out_dir, "serve.json", result)
    _print(result, console)
    return result


def _topology(topology: str, batches: Sequence[Batch], work: Workload, *, embedder: str | None, clients: int,
              seconds: float, profile: bool, console: Console) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="engram-serve-load-"))
    out: dict[str, Any] = {}
    try:
        with _processes(topology, tmp / "memory.db", embedder) as (urls, server_pids):
            began = time.perf_counter()
            _seed(urls[0], batches)
            out["seed_import_s"] = round(time.perf_counter() - began, 2)
            out["seed_embedded_s"] = round(_flush(urls[0]) + out["seed_import_s"], 2)
            for name, adds, searches in PHASES:
                console.print(f"  {name}: {clients} clients for {seconds:.0f} s ...")
                sampler = profile_server(server_pids[0], seconds) if profile and name == "searches" else None
                phase = asyncio.run(run_phase(urls, work, clients=clients, seconds=seconds, adds=adds,
                                              searches=searches))
                out[name] = phase.summary()
                if sampler is not None:
                    out[name]["profile"] = sampler.result()
                out[name]["catch_up_s"] = round(_flush(urls[0]), 2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


@contextmanager
def _processes(topology: str, db: Path, embedder: str | None) -> Iterator[tuple[list[str], list[int]]]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if embedder:
        env["ENGRAM_EMBEDDER"] = embedder
    engram = [sys.executable, "-m", "engramdb"]
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    servers = 1 if topology == "one" else 2
    try:
        for _ in range(servers):
            port = _free_port()
            cmd = [*engram, "serve", "--db", str(db), "--port", str(port), "--no-access-log"]
            if topology != "one":
                cmd += ["--worker-threads", "0"]
            procs.append(subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL))
            urls.append(f"http://127.0.0.1:{port}")
            _wait_ready(urls[-1], procs[-1])  # one at a time: both migrate the same new file
        pids = [p.pid for p in procs]
        if topology != "one":
            procs.append(subprocess.Popen([*engram, "worker", "--db", str(db)], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield urls, pids
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"engram serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} was not ready within {timeout:.0f} s")


def _seed(url: str, batches: Sequence[Batch]) -> None:
    with httpx.Client(base_url=url, timeout=300) as http:
        for start in range(0, len(batches), 16):
            body = {"batches": [{"messages": b.messages, "user_id": b.user_id, "agent_id": b.agent_id,
                                 "session_id": b.session_id, "metadata": b.metadata or None}
                                for b in batches[start:start + 16]]}
            response = http.post("/v1/memories/batch", json=body)
            response.raise_for_status()


def _flush(url: str) -> float:
    began = time.perf_counter()
    with httpx.Client(base_url=url, timeout=3700) as http:
        response = http.post("/v1/flush", json={"timeout": 3600})
        response.raise_for_status()
    return time.perf_counter() - began


def _print(result: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    table = Table(title=f"engram bench serve: {result['clients']} clients, {result['seconds']:.0f} s per phase")
    for col in ("topology", "phase", "op", "per s", "p50 ms", "p95 ms", "p99 ms", "errors", "catch-up s"):
        table.add_column(col, justify="right" if col not in ("topology", "phase", "op") else "left")
    for topology, run in result["runs"].items():
        for name, _, _ in PHASES:
            phase = run[name]
            for op in ("add", "search"):
                if op in phase:
                    s = phase[op]
                    table.add_row(topology, name, op, f"{s['per_s']:.1f}", f"{s.get('p50_ms', 0):.1f}",
                                  f"{s.get('p95_ms', 0):.1f}", f"{s.get('p99_ms', 0):.1f}", str(s["errors"]),
                                  f"{phase['catch_up_s']:.1f}")
    console.print(table)
