"""Closed-loop HTTP clients for ``engram bench serve``: N concurrent clients, each sending its
next request when the last one answered, for a fixed time; latencies and errors per operation."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from engramdb.bench.common import percentiles


@dataclass
class Workload:
    """What the clients send: adds of real turns into load users, searches of real questions
    into the seeded conversations (``questions``: (user_id, question) pairs)."""

    turns: Sequence[str]
    questions: Sequence[tuple[str, str]]
    budget_tokens: int = 1000
    add_users: int = 16


@dataclass
class PhaseResult:
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seconds": round(self.seconds, 2)}
        for op, lat in sorted(self.latencies.items()):
            stats = percentiles(lat)
            if lat:
                stats["p99_ms"] = round(sorted(lat)[min(len(lat) - 1, int(len(lat) * 0.99))], 3)
            out[op] = {**stats, "per_s": round(len(lat) / self.seconds, 1), "errors": self.errors.get(op, 0)}
        out["errors"] = sum(self.errors.values())
        out["error_samples"] = self.error_samples[:5]
        return out


async def _one(http: httpx.AsyncClient, op: str, body: dict[str, Any], result: PhaseResult) -> None:
    path = "/v1/memories" if op == "add" else "/v1/search"
    began = time.perf_counter()
    try:
        response = await http.post(path, json=body)
        ok = response.status_code in (200, 201)
        detail = f"{op}: HTTP {response.status_code} {response.text[:200]}"
    except httpx.HTTPError as exc:
        ok, detail = False, f"{op}: {type(exc).__name__}: {exc}"
    elapsed = (time.perf_counter() - began) * 1000
    if ok:
        result.latencies.setdefault(op, []).append(elapsed)
    else:
        result.errors[op] = result.errors.get(op, 0) + 1
        if len(result.error_samples) < 20:
            result.error_samples.append(detail)


def _body(op: str, work: Workload, rng: random.Random, n: int) -> dict[str, Any]:
    if op == "add":
        # a new text every time (a real turn and a running number): an identical text would reuse
        # the stored vectors and cost the pipeline nothing
        return {"messages": [{"role": "user", "content": f"{rng.choice(work.turns)} (note {n})"}],
                "user_id": f"load-{n % work.add_users}", "session_id": f"load-session-{n // 20}"}
    user, question = rng.choice(work.questions)
    return {"query": question, "user_id": user, "budget_tokens": work.budget_tokens}


async def run_phase(urls: Sequence[str], work: Workload, *, clients: int, seconds: float, adds: int,
                    searches: int, key: str | None = None, seed: int = 0) -> PhaseResult:
    """``clients`` loops for ``seconds``; each sends ``adds`` adds then ``searches`` searches, again
    and again (1:0 adds only, 0:1 searches only, 1:4 the mix). Client i talks to urls[i % len]."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    result = PhaseResult(seconds=seconds)
    stop_at = time.perf_counter() + seconds
    counter = itertools.count()
    pattern = ["add"] * adds + ["search"] * searches

    async def client(i: int, http: httpx.AsyncClient) -> None:
        rng = random.Random(seed * 1000 + i)
        for op in itertools.cycle(pattern):
            if time.perf_counter() >= stop_at:
                return
            await _one(http, op, _body(op, work, rng, next(counter)), result)

    https = [httpx.AsyncClient(base_url=u, headers=headers, timeout=60.0, limits=limits) for u in urls]
    began = time.perf_counter()
    try:
        await asyncio.gather(*(client(i, https[i % len(https)]) for i in range(clients)))
    finally:
        for h in https:
            await h.aclose()
    result.seconds = time.perf_counter() - began
    return result
