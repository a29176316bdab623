"""The facts and profile tools over stdio, with fact extraction on (ENGRAM_FACTS=1 in the
subprocess): what the user said becomes facts with their validity, the newer home city replaces
the older one, and valid_at shows what held then. Slots and TTLs through `remember`."""

from __future__ import annotations

from pathlib import Path

import anyio
from mcp.types import CallToolResult
from tests.mcp.test_mcp_stdio import call, engram_mcp, text

from mcp import Client


def test_facts_and_profile_over_stdio(tmp_path: Path) -> None:
    anyio.run(_session, tmp_path / "memory.db")


async def _session(db: Path) -> None:
    async with Client(engram_mcp(db, "--user", "sam", ENGRAM_FACTS="1"), read_timeout_seconds=60) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"attribute", "valid_at", "limit"} == set(tools["facts"].input_schema["properties"])
        assert set(tools["profile"].input_schema["properties"]) == {"valid_at"}
        assert {"subject", "attribute", "ttl"} <= set(tools["remember"].input_schema["properties"])
        assert tools["facts"].annotations is not None and tools["facts"].annotations.read_only_hint

        empty = await call(client, "profile")
        assert "no profile yet" in text(empty) and empty.structured_content["slots"] == []

        await call(client, "remember", content="I live in Lisbon", timestamp="2023-01-10T09:00:00Z")
        await call(client, "remember", content="I moved to Berlin", timestamp="2024-03-01T09:00:00Z")
        assert (await call(client, "flush", timeout_seconds=30)).structured_content["remaining"] == 0

        profile = await call(client, "profile")
        assert "The user lives in Berlin" in text(profile)
        assert "home city before: Lisbon (2023-01-10 to 2024-03-01)" in text(profile)
        (home,) = profile.structured_content["slots"]
        assert home["attribute"] == "home city" and [v["value"] for v in home["current"]] == ["Berlin"]
        assert [v["value"] for v in home["history"]] == ["Lisbon", "Berlin"]

        now = (await call(client, "facts")).structured_content["facts"]
        assert [(f["value"], f["attribute"], f["valid_to"]) for f in now] == [("Berlin", "home city", None)]
        then = await call(client, "facts", valid_at="2023-06-01")
        assert [f["value"] for f in then.structured_content["facts"]] == ["Lisbon"]
        assert "until 2024-03-01" in text(then) and "The user lives in Lisbon" in text(then)
        past = await call(client, "profile", valid_at="2023-06-01")
        assert "Lisbon" in text(past) and "Berlin" not in text(past)
        assert (await call(client, "facts", attribute="employer")).structured_content["facts"] == []

        tea = await call(client, "remember", content="The user drinks tea", kind="fact", subject="user",
                         attribute="drink", timestamp="2023-02-01T00:00:00Z")
        coffee = await call(client, "remember", content="The user drinks coffee", kind="fact", subject="user",
                            attribute="drink", timestamp="2024-02-01T00:00:00Z")
        await call(client, "flush", timeout_seconds=30)
        (drink,) = (await call(client, "facts", attribute="drink")).structured_content["facts"]
        assert drink["id"] == coffee.structured_content["ids"][0] != tea.structured_content["ids"][0]
        slots = {s["attribute"]: s for s in (await call(client, "profile")).structured_content["slots"]}
        assert [v["statement"] for v in slots["drink"]["history"]] == ["The user drinks tea",
                                                                     "The user drinks coffee"]

        brief = (await call(client, "remember", content="the gate code is 1234 today", ttl=1)).structured_content
        assert brief["ids"]
        await anyio.sleep(1.5)
        listed = (await call(client, "list_memories", limit=100)).structured_content["memories"]
        assert brief["ids"][0] not in [m["id"] for m in listed]

        bad = await client.call_tool("facts", {"valid_at": "not a time"})
        assert isinstance(bad, CallToolResult) and bad.is_error and "invalid_input" in text(bad)
        bad_ttl = await client.call_tool("remember", {"content": "x", "ttl": -5})
        assert isinstance(bad_ttl, CallToolResult) and bad_ttl.is_error
