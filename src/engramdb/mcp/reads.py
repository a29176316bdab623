"""The read tools: recall (the packed context: the agent's main tool), search, list_memories,
get_memory, memory_history, facts and profile. Reads span every session of the configured user / agent unless
the model narrows them to one."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from engramdb.core.models import SearchResult
from engramdb.mcp import render
from engramdb.mcp.params import (
    MAX_BUDGET,
    MAX_K,
    MAX_LIST,
    READ_ONLY,
    Kinds,
    MemoryId,
    Query,
    Session,
    ValidAt,
    tool_errors,
)
from engramdb.mcp.target import Ctx, Resolver

log = logging.getLogger("engramdb.mcp")


def _logged(found: SearchResult) -> SearchResult:
    """The engine's warnings are for whoever runs the server (a worker to start, a reindex to
    run): they go to its log; the model gets a short note (render._pending)."""
    for warning in found.warnings:
        log.warning("%s", warning)
    return found


def register(server: MCPServer[Any], resolve: Resolver) -> None:
    @server.tool(annotations=READ_ONLY)
    def recall(
        query: Query,
        ctx: Ctx,
        budget_tokens: Annotated[int, Field(ge=1, le=MAX_BUDGET, description="Most tokens of context to "
                                            "return.")] = 1000,
        session_id: Session = None,
        kinds: Kinds = None,
        valid_at: ValidAt = None,
    ) -> CallToolResult:
        """What to remember now: the memories most relevant to the query, dated, attributed and in
        chronological order, packed into a token budget, with their ids."""
        with tool_errors():
            target = resolve(ctx, False)
            found = target.memory.search(query, user_id=target.user_id, agent_id=target.agent_id,
                                         session_id=session_id, budget_tokens=budget_tokens, kinds=kinds,
                                         valid_at=valid_at)
            return render.recalled(_logged(found))

    @server.tool(annotations=READ_ONLY)
    def search(
        query: Query,
        ctx: Ctx,
        k: Annotated[int, Field(ge=1, le=MAX_K, description="How many memories to return.")] = 10,
        session_id: Session = None,
        kinds: Kinds = None,
        valid_at: ValidAt = None,
    ) -> CallToolResult:
        """Memories ranked by relevance to the query (score in [0, 1], higher is better)."""
        with tool_errors():
            target = resolve(ctx, False)
            found = target.memory.search(query, user_id=target.user_id, agent_id=target.agent_id,
                                         session_id=session_id, k=k, kinds=kinds, valid_at=valid_at)
            return render.ranked(_logged(found), k)

    @server.tool(annotations=READ_ONLY)
    def list_memories(
        ctx: Ctx,
        limit: Annotated[int, Field(ge=1, le=MAX_LIST, description="How many memories to return.")] = 20,
        offset: Annotated[int, Field(ge=0, le=10**12, description="How many to skip (paging).")] = 0,
        newest_first: Annotated[bool, Field(description="Latest first (default: oldest first).")] = False,
        session_id: Session = None,
        kinds: Kinds = None,
    ) -> CallToolResult:
        """Memories in the order they were said, a page at a time."""
        with tool_errors():
            target = resolve(ctx, False)
            records = target.memory.list(user_id=target.user_id, agent_id=target.agent_id, session_id=session_id,
                                         kinds=kinds, limit=limit, offset=offset, newest_first=newest_first)
            more = offset + len(records) if len(records) == limit else None
            return render.listed(records, more)

    @server.tool(annotations=READ_ONLY)
    def get_memory(memory_id: MemoryId, ctx: Ctx) -> CallToolResult:
        """One memory, whole: content, kind, speaker, time, metadata, version."""
        with tool_errors():
            target = resolve(ctx, False)
            return render.record(target.memory.get(memory_id, user_id=target.user_id, agent_id=target.agent_id))

    @server.tool(annotations=READ_ONLY)
    def memory_history(memory_id: MemoryId, ctx: Ctx) -> CallToolResult:
        """Every change to a memory (add, update, supersede) with the text before and after."""
        with tool_errors():
            target = resolve(ctx, False)
            events = target.memory.history(memory_id, user_id=target.user_id, agent_id=target.agent_id)
            return render.history(memory_id, events)

    @server.tool(annotations=READ_ONLY)
    def facts(
        ctx: Ctx,
        attribute: Annotated[str | None, Field(default=None, min_length=1, max_length=200,
                                               description='Only facts of this slot, e.g. "home city", '
                                               '"employer" (default: every slot).')] = None,
        valid_at: Annotated[str | None, Field(default=None, max_length=64,
                                              description="Event time (ISO 8601): the facts that held then "
                                              "(default: those that hold now).")] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LIST, description="How many facts to return.")] = 50,
    ) -> CallToolResult:
        """What is known about the user now (or at valid_at): the facts that hold, each with the
        time it became true, derived from what the user said; a newer fact replaces an older one."""
        with tool_errors():
            target = resolve(ctx, False)
            found = target.memory.facts(user_id=target.user_id, agent_id=target.agent_id, attribute=attribute,
                                        valid_at=valid_at, limit=limit)
            return render.facts(found)

    @server.tool(annotations=READ_ONLY)
    def profile(
        ctx: Ctx,
        valid_at: Annotated[str | None, Field(default=None, max_length=64,
                                              description="Event time (ISO 8601): the profile as it held then "
                                              "(default: now).")] = None,
    ) -> CallToolResult:
        """The user's profile: for each thing known about them (home city, employer, ...) the value
        that holds now, and what it was before."""
        with tool_errors():
            target = resolve(ctx, False)
            return render.profile(target.memory.profile(target.user_id, agent_id=target.agent_id,
                                                        valid_at=valid_at))
