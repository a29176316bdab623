"""Parity of facts and profiles: one scenario (what users say -> extracted facts, facts added with a
slot, the newer value superseding the older) read through the library, the CLI (subprocesses), the
HTTP API (a real server) and the MCP tools (`engram mcp` subprocesses), with fact extraction on
(ENGRAM_FACTS=1; the suite's default is off): the same facts with the same validity, the same
profile now and at a past valid_at, and no user sees another's facts."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import anyio
import pytest
from tests.support.pipeline import subprocess_env
from tests.support.server import live_server

from engramdb import AsyncMemory, Memory

EMBEDDER = "hash:64"
ENV = {"ENGRAM_EMBEDDER": EMBEDDER, "ENGRAM_FACTS": "1"}
SAID = [("sam", "I live in Lisbon", "2023-01-10T09:00:00+00:00"),
        ("sam", "I work at Acme", "2023-02-01T09:00:00+00:00"),
        ("sam", "I moved to Berlin", "2024-03-01T09:00:00+00:00"),
        ("eve", "I live in Oslo", "2023-05-05T09:00:00+00:00")]
SLOTTED = [("The user drinks tea", "2023-03-01T00:00:00+00:00"),
           ("The user drinks coffee", "2024-04-01T00:00:00+00:00")]
THEN = "2023-06-01T00:00:00+00:00"

Fact = tuple[str, str | None, str | None, str, str | None, bool]  # content, subject, attribute, from, to, superseded


class Driver(Protocol):
    async def add(self, text: str, user: str, when: str, **slot: str) -> None: ...
    async def settle(self) -> None: ...
    async def facts(self, user: str, **options: str) -> list[dict[str, Any]]: ...  # to_dict() or the MCP items
    async def profile(self, user: str, **options: str) -> dict[str, Any]: ...


def _fact(item: dict[str, Any]) -> Fact:
    return (item["content"], item["subject"], item["attribute"], item.get("valid_from") or item["event_time"],
            item["valid_to"], item["superseded_by"] is not None)


async def scenario(d: Driver, *, every: bool = True) -> dict[str, Any]:
    for user, text, when in SAID:
        await d.add(text, user, when)
    for text, when in SLOTTED:
        await d.add(text, "sam", when, kind="fact", subject="user", attribute="drink")
    await d.settle()
    out: dict[str, Any] = {
        "now": sorted(_fact(f) for f in await d.facts("sam")),
        "then": sorted(_fact(f) for f in await d.facts("sam", valid_at=THEN)),
        "home": sorted(_fact(f) for f in await d.facts("sam", attribute="home city")),
        "eve": sorted(_fact(f) for f in await d.facts("eve")),
        "profile": await d.profile("sam"),
        "profile_then": await d.profile("sam", valid_at=THEN),
        "profile_eve": await d.profile("eve"),
    }
    if every:  # the MCP facts tool reads what holds (its history is the profile's)
        out["every"] = sorted(_fact(f) for f in await d.facts("sam", include_superseded="true"))
    return out


class LibraryDriver:
    def __init__(self, mem: Memory) -> None:
        self.mem = mem

    async def add(self, text: str, user: str, when: str, **slot: str) -> None:
        self.mem.add(text, user_id=user, timestamp=when, **slot)  # type: ignore[arg-type]

    async def settle(self) -> None:
        self.mem.flush()

    async def facts(self, user: str, **options: str) -> list[dict[str, Any]]:
        every = options.pop("include_superseded", None) == "true"
        return [f.to_dict() for f in self.mem.facts(user_id=user, include_superseded=every, **options)]

    async def profile(self, user: str, **options: str) -> dict[str, Any]:
        return self.mem.profile(user, **options).to_dict()


class CliDriver:
    def __init__(self, db: Path) -> None:
        self.db = db

    def run(self, *args: str) -> list[dict[str, Any]]:
        proc = subprocess.run([sys.executable, "-m", "engramdb", *args, "--db", str(self.db), "--json"],
                              capture_output=True, text=True, env=subprocess_env(**ENV), timeout=120)
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]

    async def add(self, text: str, user: str, when: str, **slot: str) -> None:
        self.run("add", text, "--user", user, "--timestamp", when, *(a for k, v in slot.items() for a in (f"--{k}", v)))

    async def settle(self) -> None:
        self.run("flush")

    async def facts(self, user: str, **options: str) -> list[dict[str, Any]]:
        extra: list[str] = []
        for name, value in options.items():
            extra += ["--all"] if name == "include_superseded" else [f"--{name.replace('_', '-')}", value]
        return self.run("facts", "--user", user, *extra)

    async def profile(self, user: str, **options: str) -> dict[str, Any]:
        (found,) = self.run("profile", "--user", user, *(a for v in options.values() for a in ("--valid-at", v)))
        return found


class HttpDriver:
    def __init__(self, url: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=url, timeout=60)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    async def add(self, text: str, user: str, when: str, **slot: str) -> None:
        self.call("POST", "/v1/memories", json={"messages": text, "user_id": user, "timestamp": when, **slot})

    async def settle(self) -> None:
        self.call("POST", "/v1/flush", json={"timeout": 60})

    async def facts(self, user: str, **options: str) -> list[dict[str, Any]]:
        return list(self.call("GET", "/v1/facts", params={"user_id": user, **options})["facts"])

    async def profile(self, user: str, **options: str) -> dict[str, Any]:
        return dict(self.call("GET", "/v1/profile", params={"user_id": user, **options}))


class McpDriver:
    """One `engram mcp` subprocess per user (the scope is configuration)."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    async def call(self, user: str, tool: str, **arguments: Any) -> Any:
        result = await self.clients[user].call_tool(tool, arguments)
        assert not result.is_error, result.content
        return result.structured_content

    async def add(self, text: str, user: str, when: str, **slot: str) -> None:
        await self.call(user, "remember", content=text, timestamp=when, **slot)

    async def settle(self) -> None:
        for user in self.clients:
            await self.call(user, "flush", timeout_seconds=60)

    async def facts(self, user: str, **options: str) -> list[dict[str, Any]]:
        return list((await self.call(user, "facts", **options))["facts"])

    async def profile(self, user: str, **options: str) -> dict[str, Any]:
        return dict(await self.call(user, "profile", **options))


def _library(tmp: Path) -> dict[str, Any]:
    with Memory(tmp / "lib.db", embedder=EMBEDDER, facts=True) as mem:
        return anyio.run(scenario, LibraryDriver(mem))


def _cli(tmp: Path) -> dict[str, Any]:
    return anyio.run(scenario, CliDriver(tmp / "cli.db"))


def _http(tmp: Path) -> dict[str, Any]:
    with live_server(tmp / "http.db", embedder=EMBEDDER, facts=True) as live:
        return anyio.run(scenario, HttpDriver(live.url))


def _mcp(tmp: Path) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters

    def params(user: str) -> StdioServerParameters:
        return StdioServerParameters(command=sys.executable,
                                     args=["-m", "engramdb", "mcp", "--db", str(tmp / "mcp.db"), "--user", user],
                                     env=subprocess_env(**ENV))

    @asynccontextmanager
    async def both() -> AsyncIterator[McpDriver]:
        async with Client(params("sam"), read_timeout_seconds=60) as sam, \
                Client(params("eve"), read_timeout_seconds=60) as eve:
            yield McpDriver({"sam": sam, "eve": eve})

    async def run() -> dict[str, Any]:
        async with both() as driver:
            return await scenario(driver, every=False)

    return anyio.run(run)


def _without_ids(profile: dict[str, Any]) -> dict[str, Any]:
    """Fact ids differ between databases; everything else must not."""
    slots = [{**s, "current": [{k: v for k, v in x.items() if k != "fact_id"} for x in s["current"]],
              "history": [{k: v for k, v in x.items() if k != "fact_id"} for x in s["history"]]}
             for s in profile["slots"]]
    return {**profile, "slots": slots}


@pytest.mark.slow
def test_facts_and_profile_are_the_same_through_every_entry_point(tmp_path: Path) -> None:
    results = {name: run(tmp_path) for name, run in
               (("library", _library), ("cli", _cli), ("http", _http), ("mcp", _mcp))}
    for got in results.values():
        for key in ("profile", "profile_then", "profile_eve"):
            got[key] = _without_ids(got[key])
    expected = results["library"]
    lisbon = ("The user lives in Lisbon", "user", "home city", "2023-01-10T09:00:00+00:00",
              "2024-03-01T09:00:00+00:00", True)
    berlin = ("The user lives in Berlin", "user", "home city", "2024-03-01T09:00:00+00:00", None, False)
    acme = ("The user works at Acme", "user", "employer", "2023-02-01T09:00:00+00:00", None, False)
    coffee = ("The user drinks coffee", "user", "drink", "2024-04-01T00:00:00+00:00", None, False)
    tea = ("The user drinks tea", "user", "drink", "2023-03-01T00:00:00+00:00", "2024-04-01T00:00:00+00:00", True)
    assert expected["now"] == sorted([berlin, acme, coffee])
    assert expected["then"] == sorted([lisbon, acme, tea])
    assert expected["home"] == [berlin]
    assert expected["every"] == sorted([lisbon, berlin, acme, tea, coffee])
    assert [f[0] for f in expected["eve"]] == ["The user lives in Oslo"]
    slots = {s["attribute"]: s for s in expected["profile"]["slots"]}
    assert [v["value"] for v in slots["home city"]["current"]] == ["Berlin"]
    assert [v["value"] for v in slots["home city"]["history"]] == ["Lisbon", "Berlin"]
    assert [v["statement"] for v in slots["drink"]["current"]] == ["The user drinks coffee"]
    then = {s["attribute"]: s for s in expected["profile_then"]["slots"]}
    assert [v["value"] for v in then["home city"]["current"]] == ["Lisbon"]
    assert expected["profile_then"]["valid_at"] == THEN
    assert "Oslo" in expected["profile_eve"]["text"] and "Oslo" not in json.dumps(expected["profile"])
    for name, got in results.items():
        compared = {k: v for k, v in expected.items() if k in got}
        assert got == compared, name
        assert name == "mcp" or got.keys() == expected.keys(), name


def test_async_memory_reads_facts_and_profiles(tmp_path: Path) -> None:
    async def go() -> tuple[list[str], list[str], str]:
        async with AsyncMemory(tmp_path / "a.db", embedder=EMBEDDER, facts=True, background=False) as mem:
            for user, text, when in SAID:
                await mem.add(text, user_id=user, timestamp=when)
            now = [f.content for f in await mem.facts(user_id="sam", attribute="home city")]
            then = [f.content for f in await mem.facts(user_id="sam", valid_at=THEN)]
            return now, then, (await mem.profile("sam", valid_at=THEN)).text()

    now, then, text = asyncio.run(go())
    assert now == ["The user lives in Berlin"]
    assert sorted(then) == ["The user lives in Lisbon", "The user works at Acme"]
    assert text == "[profile] The user works at Acme. The user lives in Lisbon."
