"""The MCP endpoint mounted at /mcp of a real `engram serve` (uvicorn on loopback), driven by the
MCP SDK's streamable-HTTP client: API keys pick the tenant and bound the scope; a key for sam
never reaches eve's memories; a read-only key cannot write; no key, no access."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent
from tests.support.server import LiveServer, live_server

from engramdb.registry import keys_path
from engramdb.stores.sqlite_keys import KeyRing
from mcp import Client, MCPError

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "0"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    db = tmp_path / "memory.db"
    ring = KeyRing(keys_path(db))  # keys exist before the server starts: authentication is on
    keys = {"admin": ring.create("default")[1], "sam": ring.create("default", users=["sam"])[1],
            "sam_ro": ring.create("default", users=["sam"], read_only=True)[1],
            "team": ring.create("default", users=["sam", "eve"])[1]}
    ring.close()
    with live_server(db) as live:
        yield live, keys


def text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def mcp_client(url: str, key: str | None, **headers: str) -> Client:
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    http = httpx2.AsyncClient(headers={**auth, **headers}, timeout=30)
    return Client(streamable_http_client(url, http_client=http), read_timeout_seconds=30)


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    return result


def test_keys_bound_the_scope(served: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = served
    with server.client(keys["admin"]) as http:
        ids = {}
        for user, text_ in (("sam", "Sam's cat is called Pimenta"), ("eve", "Eve's cat is called Biscuit")):
            added = http.post("/v1/memories", json={"messages": text_, "user_id": user})
            assert added.status_code == 201, added.text
            ids[user] = added.json()["memories"][0]["id"]
    anyio.run(_as_sam, server.url + "/mcp", keys, ids)
    with server.client(keys["admin"]) as http:  # sam's remember reached sam's memory, and nothing else did
        listed = http.get("/v1/memories", params={"user_id": "sam"}).json()["memories"]
        assert sorted(m["content"] for m in listed) == ["Sam's cat is called Pimenta", "Sam's flight seat is 14A"]
        assert len(http.get("/v1/memories", params={"user_id": "eve"}).json()["memories"]) == 1


async def _as_sam(url: str, keys: dict[str, str], ids: dict[str, str]) -> None:
    async with mcp_client(url, keys["sam"]) as sam:  # the key's only user: no header needed
        recalled = await call(sam, "recall", query="what is the cat called?")
        assert "Pimenta" in text(recalled) and "Biscuit" not in text(recalled)
        assert recalled.structured_content["ids"] == [ids["sam"]]
        hits = (await call(sam, "search", query="cat called Biscuit")).structured_content["hits"]
        assert [h["id"] for h in hits] == [ids["sam"]]
        listed = (await call(sam, "list_memories")).structured_content["memories"]
        assert [m["id"] for m in listed] == [ids["sam"]]
        for tool, extra in (("get_memory", {}), ("memory_history", {}), ("forget", {}),
                            ("update_memory", {"content": "Eve has no cat"})):
            denied = await call(sam, tool, memory_id=ids["eve"], **extra)
            assert denied.is_error and "not_found" in text(denied), text(denied)
        assert not (await call(sam, "remember", content="Sam's flight seat is 14A")).is_error
    async with mcp_client(url, keys["sam_ro"]) as reader:
        assert "Pimenta" in text(await call(reader, "recall", query="cat"))
        for tool, args in (("remember", {"content": "Sam now has a dog"}), ("forget", {"memory_id": ids["sam"]}),
                           ("update_memory", {"memory_id": ids["sam"], "content": "no cat"}),
                           ("forget_all", {"confirm": True})):
            refused = await call(reader, tool, **args)
            assert refused.is_error and "read-only" in text(refused), text(refused)
    async with mcp_client(url + "?user_id=eve", keys["team"]) as team:  # a key for several users names one
        recalled = await call(team, "recall", query="what is the cat called?")
        assert "Biscuit" in text(recalled) and "Pimenta" not in text(recalled)


def test_requests_without_a_fitting_key_are_refused(served: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = served
    for key, headers, status in ((None, {}, 401), ("not-a-key", {}, 401),
                                 (keys["sam"], {"X-Engram-User": "eve"}, 403),
                                 (keys["team"], {}, 400), (keys["admin"], {}, 400)):
        with server.client(key) as http:
            answer = http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **headers})
            assert answer.status_code == status, (key, headers, answer.text)
            assert answer.json()["error"]["message"]
    with server.client(keys["admin"]) as http:  # the same request with a key and a user is served
        served_ = http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "X-Engram-User": "sam"})
        assert served_.status_code == 200 and served_.json()["result"]["serverInfo"]["name"] == "engramdb"
    with pytest.raises(ExceptionGroup) as refused:  # the SDK client cannot connect without a key
        anyio.run(_connect, server.url + "/mcp")
    assert refused.group_contains(MCPError, depth=None)


async def _connect(url: str) -> None:
    async with mcp_client(url, None) as client:
        await client.list_tools()


def test_without_keys_only_loopback_hosts_are_served(tmp_path: Path) -> None:
    with live_server(tmp_path / "memory.db") as server, server.client() as http:
        sam = {**MCP_HEADERS, "X-Engram-User": "sam"}
        assert http.post("/mcp", json=INITIALIZE, headers=sam).status_code == 200
        assert http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS).status_code == 400  # whose memory?
        rebound = http.post("/mcp", json=INITIALIZE, headers={**sam, "Host": "evil.example"})
        assert rebound.status_code == 403 and "loopback" in rebound.json()["error"]["message"]
