"""The MCP tools over the Memory facade. Every tool acts on the target its resolver gives (a
scope fixed by configuration or by the request's API key), never on a scope the model names;
an EngramError becomes a tool error carrying its message, which the model can read and act on.

Tool functions are plain ``def``: the SDK runs them in a worker thread, so SQLite and the
embedder never block the event loop."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from engramdb.core.errors import EngramError
from engramdb.mcp import render
from engramdb.mcp.target import Ctx, Resolver

INSTRUCTIONS = (
    "Long-term memory of this user across conversations. Call `recall` with the topic of the user's "
    "message before answering anything that may depend on the past (preferences, facts about people, "
    "earlier plans); it returns dated, attributed memories packed into a token budget. Call `remember` "
    "for what is worth keeping (stable facts, preferences, decisions, events with their date). "
    "`forget` deletes a memory for good when the user asks for it."
)
MAX_K = 100
MAX_BUDGET = 32_000
MAX_LIST = 200

KindName = Literal["note", "fact", "turn", "summary", "profile"]
MemoryId = Annotated[str, Field(min_length=1, max_length=200, description="A memory id, as returned by "
                                "remember, recall, search or list_memories.")]
Query = Annotated[str, Field(min_length=1, max_length=10_000, description="What to look for, in natural "
                             "language (the user's question or its topic).")]
Session = Annotated[str | None, Field(default=None, min_length=1, max_length=200,
                                      description="Only memories of this conversation session (default: all "
                                      "sessions).")]
Kinds = Annotated[list[KindName] | None, Field(default=None, max_length=5,
                                               description="Only memories of these kinds (default: all).")]
ValidAt = Annotated[str | None, Field(default=None, max_length=64,
                                      description="Event time (ISO 8601): only what had been said by then; it "
                                      "also anchors relative dates like 'last week' in the query.")]

log = logging.getLogger("engramdb.mcp")


@contextmanager
def tool_errors() -> Iterator[None]:
    """An engramdb error is the caller's to fix (bad input, unknown id, a read-only key): the
    model gets the message. Anything else is a bug, which the SDK logs and reports generically."""
    try:
        yield
    except EngramError as exc:
        raise ToolError(f"{exc.code}: {exc}") from exc


def build_server(resolve: Resolver, *, name: str = "engramdb", version: str = "") -> MCPServer[Any]:
    """An MCP server with engramdb's tools, each acting on ``resolve(ctx, write)``."""
    with _no_logging_setup():
        server: MCPServer[Any] = MCPServer(name, version=version, instructions=INSTRUCTIONS, log_level="WARNING")
    _reads(server, resolve)
    _writes(server, resolve)
    _by_id(server, resolve)
    return server


def _writes(server: MCPServer[Any], resolve: Resolver) -> None:
    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False))
    def remember(
        content: Annotated[str, Field(min_length=1, description="The text to remember: a fact, a preference, an "
                                      "event, or a message of the conversation. Self-contained; name people.")],
        ctx: Ctx,
        role: Annotated[str | None, Field(default=None, max_length=200,
                                          description="Role of a message: user, assistant, ...")] = None,
        speaker: Annotated[str | None, Field(default=None, max_length=200,
                                             description="Name of who said it.")] = None,
        kind: Annotated[KindName | None, Field(default=None,
                                               description="What it is (default: note).")] = None,
        metadata: Annotated[dict[str, Any] | None, Field(default=None,
                                                         description="A JSON object to file with it.")] = None,
        timestamp: Annotated[str | None, Field(default=None, max_length=64,
                                               description="When it was said or happened (ISO 8601); "
                                               "default now.")] = None,
        session_id: Annotated[str | None, Field(default=None, min_length=1, max_length=200,
                                                description="Conversation session to file it under (default: "
                                                "the configured session).")] = None,
    ) -> CallToolResult:
        """Store a memory for later conversations. It is searchable at once."""
        with tool_errors():
            target = resolve(ctx, True)
            records = target.memory.add(content, user_id=target.user_id, agent_id=target.agent_id,
                                        session_id=session_id or target.session_id, role=role, speaker=speaker,
                                        kind=kind, metadata=metadata, timestamp=timestamp)
            return render.remembered(records)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True))
    def forget(memory_id: MemoryId, ctx: Ctx) -> CallToolResult:
        """Delete a memory for good, with every version of it and what was derived from it."""
        with tool_errors():
            target = resolve(ctx, True)
            target.memory.delete(memory_id, user_id=target.user_id, agent_id=target.agent_id)
            return render.result(f"forgot {memory_id}", {"deleted": memory_id})


def _reads(server: MCPServer[Any], resolve: Resolver) -> None:
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read_only)
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
            found = target.memory.search(query, user_id=target.user_id, agent_id=target.agent_id, session_id=session_id,
                                         budget_tokens=budget_tokens, kinds=kinds, valid_at=valid_at)
            return render.recalled(found)

    @server.tool(annotations=read_only)
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
            return render.ranked(found.hits[:k], found.warnings)

    @server.tool(annotations=read_only)
    def list_memories(
        ctx: Ctx,
        limit: Annotated[int, Field(ge=1, le=MAX_LIST, description="How many memories to return.")] = 20,
        offset: Annotated[int, Field(ge=0, le=10**12, description="How many to skip (paging).")] = 0,
        session_id: Session = None,
        kinds: Kinds = None,
    ) -> CallToolResult:
        """Memories in the order they were said (oldest first), a page at a time."""
        with tool_errors():
            target = resolve(ctx, False)
            records = target.memory.list(user_id=target.user_id, agent_id=target.agent_id,
                                         session_id=session_id, kinds=kinds, limit=limit, offset=offset)
            more = offset + len(records) if len(records) == limit else None
            return render.listed(records, more)


def _by_id(server: MCPServer[Any], resolve: Resolver) -> None:
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read_only)
    def get_memory(memory_id: MemoryId, ctx: Ctx) -> CallToolResult:
        """One memory, whole: content, kind, speaker, time, metadata, version."""
        with tool_errors():
            target = resolve(ctx, False)
            return render.record(target.memory.get(memory_id, user_id=target.user_id, agent_id=target.agent_id))

    @server.tool(annotations=read_only)
    def memory_history(memory_id: MemoryId, ctx: Ctx) -> CallToolResult:
        """Every change to a memory (add, update, supersede) with the text before and after."""
        with tool_errors():
            target = resolve(ctx, False)
            events = target.memory.history(memory_id, user_id=target.user_id, agent_id=target.agent_id)
            return render.history(memory_id, events)


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("engramdb")
    except PackageNotFoundError:
        return "0"


@contextmanager
def _no_logging_setup() -> Iterator[None]:
    """MCPServer() calls logging.basicConfig, which only configures a root logger without
    handlers: a placeholder handler keeps the embedding process's logging as it set it up."""
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    try:
        yield
    finally:
        root.removeHandler(placeholder)
