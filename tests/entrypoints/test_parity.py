"""Parity: one scenario (add -> search -> update -> supersede -> history -> delete ->
delete_scope) through the library, the CLI (subprocesses), the HTTP API (a real server) and
the MCP tools (a real `engram mcp` subprocess, the SDK's client), with the same results."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import anyio
import pytest
from tests.support.pipeline import subprocess_env
from tests.support.server import live_server

from engramdb import Memory
from engramdb.core.errors import NotFoundError

EMBEDDER = "hash:64"
SAM = [("I adopted a cat named Pimenta", "2024-06-21T08:33:00+00:00"),
       ("My seat on the Lisbon flight is 14A", "2024-07-01T10:00:00+00:00"),
       ("I am learning to play the cello", "2024-07-05T18:00:00+00:00")]
EVE = ("Eve keeps a cat named Tom", "2024-06-22T09:00:00+00:00")


class Driver(Protocol):
    async def add(self, text: str, user: str, when: str) -> str: ...
    async def settle(self) -> None: ...
    async def search(self, query: str, user: str) -> list[str]: ...  # contents, best first
    async def update(self, memory_id: str, content: str, user: str) -> None: ...
    async def supersede(self, memory_id: str, content: str, user: str) -> str: ...
    async def history(self, memory_id: str, user: str) -> list[tuple[str, str | None]]: ...
    async def delete(self, memory_id: str, user: str) -> None: ...
    async def exists(self, memory_id: str, user: str) -> bool: ...
    async def delete_scope(self, user: str) -> int: ...
    async def contents(self, user: str) -> list[str]: ...


async def scenario(d: Driver) -> dict[str, Any]:
    ids = [await d.add(text, "sam", when) for text, when in SAM]
    await d.add(*EVE[:1], "eve", EVE[1])
    await d.settle()
    out: dict[str, Any] = {"search": await d.search("what is the cat called", "sam")}
    await d.update(ids[0], "I adopted a cat named Pimenta; she is orange", "sam")
    new_seat = await d.supersede(ids[1], "My seat on the Lisbon flight is now 15C", "sam")
    await d.settle()
    out["after_edits"] = await d.search("Lisbon flight seat", "sam")
    out["history_cat"] = await d.history(ids[0], "sam")
    out["history_seat"] = await d.history(ids[1], "sam")
    out["current"] = sorted(await d.contents("sam"))
    await d.delete(ids[0], "sam")
    out["cat_exists"] = await d.exists(ids[0], "sam")
    out["seat_exists"] = await d.exists(new_seat, "sam")
    out["eve_sees_sam"] = await d.exists(ids[2], "eve")
    out["deleted_scope"] = await d.delete_scope("sam")
    out["left_sam"] = await d.contents("sam")
    out["left_eve"] = await d.contents("eve")
    return out


def _actions(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(e["action"], (e.get("after") or {}).get("content") if isinstance(e.get("after"), dict)
             else e.get("after")) for e in events]


class LibraryDriver:
    def __init__(self, mem: Memory) -> None:
        self.mem = mem

    async def add(self, text: str, user: str, when: str) -> str:
        return self.mem.add(text, user_id=user, timestamp=when)[0].id

    async def settle(self) -> None:
        self.mem.flush()

    async def search(self, query: str, user: str) -> list[str]:
        return [h.record.content for h in self.mem.search(query, user_id=user, k=5).hits]

    async def update(self, memory_id: str, content: str, user: str) -> None:
        self.mem.update(memory_id, content=content, user_id=user)

    async def supersede(self, memory_id: str, content: str, user: str) -> str:
        return self.mem.supersede(memory_id, content, user_id=user).id

    async def history(self, memory_id: str, user: str) -> list[tuple[str, str | None]]:
        return _actions([e.to_dict() for e in self.mem.history(memory_id, user_id=user)])

    async def delete(self, memory_id: str, user: str) -> None:
        self.mem.delete(memory_id, user_id=user)

    async def exists(self, memory_id: str, user: str) -> bool:
        try:
            self.mem.get(memory_id, user_id=user)
        except NotFoundError:
            return False
        return True

    async def delete_scope(self, user: str) -> int:
        return self.mem.delete_scope(user_id=user)

    async def contents(self, user: str) -> list[str]:
        return [r.content for r in self.mem.list(user_id=user)]


class CliDriver:
    def __init__(self, db: Path) -> None:
        self.db = db

    def run(self, *args: str, ok: bool = True) -> tuple[int, list[dict[str, Any]]]:
        proc = subprocess.run([sys.executable, "-m", "engramdb", *args, "--db", str(self.db), "--json"],
                              capture_output=True, text=True, env=subprocess_env(ENGRAM_EMBEDDER=EMBEDDER),
                              timeout=120)
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]

    async def add(self, text: str, user: str, when: str) -> str:
        return str(self.run("add", text, "--user", user, "--timestamp", when)[1][0]["id"])

    async def settle(self) -> None:
        self.run("flush")

    async def search(self, query: str, user: str) -> list[str]:
        (result,) = self.run("search", query, "--user", user, "-k", "5")[1]
        return [h["content"] for h in result["hits"]]

    async def update(self, memory_id: str, content: str, user: str) -> None:
        self.run("update", memory_id, "--content", content, "--user", user)

    async def supersede(self, memory_id: str, content: str, user: str) -> str:
        return str(self.run("supersede", memory_id, content, "--user", user)[1][0]["id"])

    async def history(self, memory_id: str, user: str) -> list[tuple[str, str | None]]:
        return _actions(self.run("history", memory_id, "--user", user)[1])

    async def delete(self, memory_id: str, user: str) -> None:
        self.run("delete", memory_id, "--user", user)

    async def exists(self, memory_id: str, user: str) -> bool:
        return self.run("show", memory_id, "--user", user, ok=False)[0] == 0

    async def delete_scope(self, user: str) -> int:
        return int(self.run("delete", "--all-in-scope", "--user", user)[1][0]["deleted"])

    async def contents(self, user: str) -> list[str]:
        return [r["content"] for r in self.run("list", "--user", user)[1]]


class HttpDriver:
    def __init__(self, url: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=url, timeout=60)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    async def add(self, text: str, user: str, when: str) -> str:
        return str(self.call("POST", "/v1/memories", json={"messages": text, "user_id": user,
                                                           "timestamp": when})["memories"][0]["id"])

    async def settle(self) -> None:
        self.call("POST", "/v1/flush", json={})

    async def search(self, query: str, user: str) -> list[str]:
        return [h["content"] for h in self.call("POST", "/v1/search", json={"query": query, "user_id": user,
                                                                             "k": 5})["hits"]]

    async def update(self, memory_id: str, content: str, user: str) -> None:
        self.call("PATCH", f"/v1/memories/{memory_id}", json={"content": content, "user_id": user})

    async def supersede(self, memory_id: str, content: str, user: str) -> str:
        return str(self.call("POST", f"/v1/memories/{memory_id}/supersede",
                             json={"content": content, "user_id": user})["id"])

    async def history(self, memory_id: str, user: str) -> list[tuple[str, str | None]]:
        return _actions(self.call("GET", f"/v1/memories/{memory_id}/history", params={"user_id": user})["events"])

    async def delete(self, memory_id: str, user: str) -> None:
        self.call("DELETE", f"/v1/memories/{memory_id}", params={"user_id": user})

    async def exists(self, memory_id: str, user: str) -> bool:
        response = self.http.get(f"/v1/memories/{memory_id}", params={"user_id": user})
        assert response.status_code in (200, 404), response.text
        return response.status_code == 200

    async def delete_scope(self, user: str) -> int:
        return int(self.call("DELETE", "/v1/scopes", params={"user_id": user})["deleted"])

    async def contents(self, user: str) -> list[str]:
        return [r["content"] for r in self.call("GET", "/v1/memories", params={"user_id": user})["memories"]]


class McpDriver:
    """One `engram mcp` subprocess per user (the scope is configuration, not a tool argument)."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    async def call(self, user: str, tool: str, ok: bool = True, **arguments: Any) -> Any:
        result = await self.clients[user].call_tool(tool, arguments)
        if ok:
            assert not result.is_error, result.content
        return result

    async def add(self, text: str, user: str, when: str) -> str:
        return str((await self.call(user, "remember", content=text, timestamp=when)).structured_content["ids"][0])

    async def settle(self) -> None:
        for user in self.clients:
            await self.call(user, "flush")

    async def search(self, query: str, user: str) -> list[str]:
        hits = (await self.call(user, "search", query=query, k=5)).structured_content["hits"]
        return [h["content"] for h in hits]

    async def update(self, memory_id: str, content: str, user: str) -> None:
        await self.call(user, "update_memory", memory_id=memory_id, content=content)

    async def supersede(self, memory_id: str, content: str, user: str) -> str:
        return str((await self.call(user, "supersede_memory", memory_id=memory_id,
                                    content=content)).structured_content["id"])

    async def history(self, memory_id: str, user: str) -> list[tuple[str, str | None]]:
        events = (await self.call(user, "memory_history", memory_id=memory_id)).structured_content["events"]
        return [(e["action"], e["after"]) for e in events]

    async def delete(self, memory_id: str, user: str) -> None:
        await self.call(user, "forget", memory_id=memory_id)

    async def exists(self, memory_id: str, user: str) -> bool:
        return not (await self.call(user, "get_memory", ok=False, memory_id=memory_id)).is_error

    async def delete_scope(self, user: str) -> int:
        return int((await self.call(user, "forget_all", confirm=True)).structured_content["deleted"])

    async def contents(self, user: str) -> list[str]:
        listed = (await self.call(user, "list_memories", limit=100)).structured_content["memories"]
        return [m["content"] for m in listed]


def _library(tmp: Path) -> dict[str, Any]:
    with Memory(tmp / "lib.db", embedder=EMBEDDER) as mem:
        return anyio.run(scenario, LibraryDriver(mem))


def _cli(tmp: Path) -> dict[str, Any]:
    return anyio.run(scenario, CliDriver(tmp / "cli.db"))


def _http(tmp: Path) -> dict[str, Any]:
    with live_server(tmp / "http.db", embedder=EMBEDDER) as live:
        return anyio.run(scenario, HttpDriver(live.url))


def _mcp(tmp: Path) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters

    def params(user: str) -> StdioServerParameters:
        return StdioServerParameters(command=sys.executable,
                                     args=["-m", "engramdb", "mcp", "--db", str(tmp / "mcp.db"), "--user", user],
                                     env=subprocess_env(ENGRAM_EMBEDDER=EMBEDDER))

    @asynccontextmanager
    async def both() -> AsyncIterator[McpDriver]:
        async with Client(params("sam"), read_timeout_seconds=60) as sam, \
                Client(params("eve"), read_timeout_seconds=60) as eve:
            yield McpDriver({"sam": sam, "eve": eve})

    async def run(ctx: Callable[[], AbstractAsyncContextManager[McpDriver]]) -> dict[str, Any]:
        async with ctx() as driver:
            return await scenario(driver)

    return anyio.run(run, both)


@pytest.mark.slow
def test_same_results_through_every_entry_point(tmp_path: Path) -> None:
    results = {name: run(tmp_path) for name, run in
               (("library", _library), ("cli", _cli), ("http", _http), ("mcp", _mcp))}
    expected = results["library"]
    assert expected["search"][0] == "I adopted a cat named Pimenta"
    assert "Eve keeps a cat named Tom" not in expected["search"]
    assert expected["after_edits"][0] == "My seat on the Lisbon flight is now 15C"
    assert [a for a, _ in expected["history_cat"]] == ["add", "update"]
    assert [a for a, _ in expected["history_seat"]] == ["add", "supersede"]
    assert expected["current"] == sorted(["I adopted a cat named Pimenta; she is orange",
                                          "My seat on the Lisbon flight is now 15C",
                                          "I am learning to play the cello"])
    assert (expected["cat_exists"], expected["seat_exists"], expected["eve_sees_sam"]) == (False, True, False)
    assert expected["deleted_scope"] == 3 and expected["left_sam"] == []
    assert expected["left_eve"] == ["Eve keeps a cat named Tom"]
    for name, got in results.items():
        assert got == expected, name
