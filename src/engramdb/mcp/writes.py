"""The write tools: remember, update_memory, supersede_memory, forget, forget_all, and flush.
Each asks its resolver for a write (a read-only API key is refused before anything happens)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from engramdb.core.errors import ValidationError
from engramdb.mcp import render
from engramdb.mcp.params import Content, Kind, MemoryId, Metadata, Name, Timestamp, tool_errors
from engramdb.mcp.target import Ctx, Resolver

ADDS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
CHANGES = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)
DELETES = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)


def register(server: MCPServer[Any], resolve: Resolver) -> None:
    @server.tool(annotations=ADDS)
    def remember(
        content: Content,
        ctx: Ctx,
        role: Annotated[Name, Field(description="Role of a message: user, assistant, ...")] = None,
        speaker: Annotated[Name, Field(description="Name of who said it.")] = None,
        kind: Kind = None,
        metadata: Metadata = None,
        timestamp: Timestamp = None,
        session_id: Annotated[Name, Field(min_length=1, description="Conversation session to file it under "
                                          "(default: the configured session).")] = None,
        subject: Annotated[Name, Field(min_length=1, description='For a fact: who it is about ("user", a '
                                       'name).')] = None,
        attribute: Annotated[Name, Field(min_length=1, description='For a fact: what it is about ("home city", '
                                         '"employer"); a later fact about the same thing replaces it.')] = None,
        ttl: Annotated[float | None, Field(default=None, gt=0, le=10**10, description="Forget it after this many "
                                           "seconds (default: never).")] = None,
    ) -> CallToolResult:
        """Store a memory for later conversations. It is searchable at once."""
        with tool_errors():
            target = resolve(ctx, True)
            records = target.memory.add(content, user_id=target.user_id, agent_id=target.agent_id,
                                        session_id=session_id or target.session_id, role=role, speaker=speaker,
                                        kind=kind, metadata=metadata, timestamp=timestamp, subject=subject,
                                        attribute=attribute, ttl=ttl)
            return render.remembered(records)

    @server.tool(annotations=CHANGES)
    def update_memory(memory_id: MemoryId, ctx: Ctx,
                      content: Annotated[str | None, Field(default=None, min_length=1,
                                                           description="The corrected text.")] = None,
                      metadata: Metadata = None, timestamp: Timestamp = None) -> CallToolResult:
        """Correct a memory in place (a typo, a detail); the old version stays in its history."""
        with tool_errors():
            target = resolve(ctx, True)
            return render.record(target.memory.update(memory_id, content=content, metadata=metadata,
                                                      timestamp=timestamp, user_id=target.user_id,
                                                      agent_id=target.agent_id))

    @server.tool(annotations=CHANGES)
    def supersede_memory(memory_id: MemoryId, content: Content, ctx: Ctx, kind: Kind = None,
                         metadata: Metadata = None, timestamp: Timestamp = None) -> CallToolResult:
        """Replace a memory that is no longer true (the user moved, changed their mind) with a new
        one; recall then gives the new one, and the old one stays readable in the past."""
        with tool_errors():
            target = resolve(ctx, True)
            new = target.memory.supersede(memory_id, content, kind=kind, metadata=metadata, timestamp=timestamp,
                                          user_id=target.user_id, agent_id=target.agent_id)
            return render.result(f"superseded {memory_id} by {new.id}", {"id": new.id, "superseded": memory_id})

    @server.tool(annotations=DELETES)
    def forget(memory_id: MemoryId, ctx: Ctx) -> CallToolResult:
        """Delete a memory for good, with every version of it and what was derived from it."""
        with tool_errors():
            target = resolve(ctx, True)
            target.memory.delete(memory_id, user_id=target.user_id, agent_id=target.agent_id)
            return render.result(f"forgot {memory_id}", {"deleted": memory_id})

    @server.tool(annotations=DELETES)
    def forget_all(ctx: Ctx, confirm: Annotated[bool, Field(description="Must be true: this erases every memory "
                                                             "of this user, only on the user's explicit "
                                                             "request.")] = False) -> CallToolResult:
        """Erase everything remembered about this user, leaving nothing behind."""
        with tool_errors():
            if not confirm:
                raise ValidationError("forget_all erases every memory of this user: call it with confirm=true, "
                                      "and only when the user asked for it")
            target = resolve(ctx, True)
            n = target.memory.delete_scope(user_id=target.user_id, agent_id=target.agent_id)
            return render.result(f"forgot all {n} memories", {"deleted": n})

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    def flush(ctx: Ctx, timeout_seconds: Annotated[float, Field(ge=0, le=60, description="Most seconds to "
                                                                 "wait.")] = 10.0) -> CallToolResult:
        """Wait until new memories are indexed for search by meaning (they are found by keywords at
        once). Rarely needed."""
        with tool_errors():
            target = resolve(ctx, False)
            report = target.memory.flush(timeout_seconds, user_id=target.user_id, agent_id=target.agent_id)
            data = report.to_dict()
            return render.result(f"indexed {report.done}, failed {report.failed}, still queued {report.remaining}",
                                 data)
