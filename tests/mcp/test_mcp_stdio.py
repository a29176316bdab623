"""`engram mcp` over stdio, driven by the MCP SDK's own client: a real subprocess, a real
database, the shipped hash embedder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
from mcp.types import CallToolResult, TextContent
from tests.support.pipeline import subprocess_env

from mcp import Client, StdioServerParameters

TOOLS = {"recall", "search", "remember", "list_memories", "get_memory", "memory_history", "forget",
         "update_memory", "supersede_memory", "forget_all", "flush", "facts", "profile"}


def engram_mcp(db: Path, *args: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-c", "from engramdb.cli.main import main; main()", "mcp", "--db", str(db), *args],
        env=subprocess_env(ENGRAM_EMBEDDER="hash:64", **env))


def text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert not result.is_error, text(result)
    return result


def test_tools_over_stdio(tmp_path: Path) -> None:
    anyio.run(_session, tmp_path / "memory.db")


async def _session(db: Path) -> None:
    async with Client(engram_mcp(db, "--user", "sam", "--session", "s1"), read_timeout_seconds=30) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        assert tools["remember"].input_schema["required"] == ["content"]
        assert {"content", "speaker", "kind", "metadata", "timestamp", "session_id"} <= set(
            tools["remember"].input_schema["properties"])
        recall_args = tools["recall"].input_schema["properties"]
        assert recall_args["budget_tokens"]["default"] == 1000 and recall_args["query"]["description"]
        assert "user_id" not in recall_args  # the scope is configuration, not an argument
        assert {"query", "k"} <= set(tools["search"].input_schema["properties"])
        assert tools["forget"].input_schema["required"] == ["memory_id"]
        assert tools["recall"].annotations is not None and tools["recall"].annotations.read_only_hint

        added = await call(client, "remember", content="I adopted a cat named Pimenta", speaker="sam",
                           timestamp="2024-06-21T08:33:00Z", metadata={"topic": "pets"})
        (cat,) = added.structured_content["ids"]
        await call(client, "remember", content="My seat on the Lisbon flight is 14A", kind="fact")

        recalled = await call(client, "recall", query="what is my cat called?", budget_tokens=200)
        assert "Pimenta" in text(recalled) and cat in text(recalled)
        assert cat in recalled.structured_content["ids"]
        assert "2024-06-21" in recalled.structured_content["context"]

        found = await call(client, "search", query="Lisbon flight seat", k=1)
        (hit,) = found.structured_content["hits"]
        assert "14A" in hit["content"] and 0 <= hit["score"] <= 1 and hit["session_id"] == "s1"

        listed = await call(client, "list_memories", limit=1)
        assert [m["id"] for m in listed.structured_content["memories"]] == [cat]  # oldest first
        assert listed.structured_content["next_offset"] == 1

        got = await call(client, "get_memory", memory_id=cat)
        assert got.structured_content["content"] == "I adopted a cat named Pimenta"
        assert got.structured_content["metadata"] == {"topic": "pets"}

        newest = await call(client, "list_memories", limit=1, newest_first=True)
        assert "14A" in newest.structured_content["memories"][0]["content"]

        await call(client, "update_memory", memory_id=cat, content="I adopted an orange cat named Pimenta")
        history = await call(client, "memory_history", memory_id=cat)
        assert [e["action"] for e in history.structured_content["events"]] == ["add", "update"]
        assert "orange" in text(history)
        seat = newest.structured_content["memories"][0]["id"]
        moved = await call(client, "supersede_memory", memory_id=seat, content="My seat on the Lisbon flight is 3C")
        assert moved.structured_content["superseded"] == seat
        assert "3C" in text(await call(client, "recall", query="Lisbon flight seat"))
        assert (await call(client, "flush", timeout_seconds=10)).structured_content["remaining"] == 0

        await call(client, "forget", memory_id=cat)
        gone = await client.call_tool("get_memory", {"memory_id": cat})
        assert isinstance(gone, CallToolResult) and gone.is_error and "not_found" in text(gone)
        bad = await client.call_tool("remember", {"content": "x", "timestamp": "not a time"})
        assert isinstance(bad, CallToolResult) and bad.is_error and "invalid_input" in text(bad)
        assert "Pimenta" not in text(await call(client, "recall", query="cat Pimenta"))
        unconfirmed = await client.call_tool("forget_all", {})
        assert isinstance(unconfirmed, CallToolResult) and unconfirmed.is_error and "confirm" in text(unconfirmed)
        assert (await call(client, "forget_all", confirm=True)).structured_content["deleted"] >= 1
        assert (await call(client, "list_memories")).structured_content["memories"] == []


def test_other_users_memories_are_out_of_reach(tmp_path: Path) -> None:
    anyio.run(_two_users, tmp_path / "memory.db")


async def _two_users(db: Path) -> None:
    async with Client(engram_mcp(db, "--user", "eve"), read_timeout_seconds=30) as eve:
        secret = (await call(eve, "remember", content="Eve's locker code is 4711")).structured_content["ids"][0]
    async with Client(engram_mcp(db, ENGRAM_USER="sam"), read_timeout_seconds=30) as sam:  # scope from the env
        assert "4711" not in text(await call(sam, "recall", query="locker code"))
        assert (await call(sam, "search", query="locker code")).structured_content["hits"] == []
        denied = await sam.call_tool("get_memory", {"memory_id": secret})
        assert isinstance(denied, CallToolResult) and denied.is_error and "not_found" in text(denied)
