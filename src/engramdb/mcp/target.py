"""Which Memory and scope a tool call acts on, decided outside the tools: the model never names
a user or an agent, so it cannot reach another user's memories whatever it asks for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context

from engramdb.core.errors import ScopeError
from engramdb.core.grants import Grant
from engramdb.engine.memory import Memory

Ctx = Context[Any, Any]


@dataclass(frozen=True)
class Target:
    """A Memory and the scope of the caller. ``session_id`` is where new memories go by
    default; reads span the user's (and agent's) sessions unless a tool narrows them."""

    memory: Memory
    user_id: str | None
    agent_id: str | None = None
    session_id: str | None = None


#: (context of the call, whether the tool writes) -> the target, or an EngramError
Resolver = Callable[[Ctx, bool], Target]


@dataclass(frozen=True)
class Binding:
    """Who a request to the mounted endpoint acts for: its key's grant and the scope it named
    (or the only user / agent its key allows)."""

    grant: Grant
    user_id: str | None
    agent_id: str | None = None
    session_id: str | None = None


def fixed(memory: Memory, user_id: str | None, agent_id: str | None = None,
          session_id: str | None = None) -> Resolver:
    """One Memory and one scope for every call (``engram mcp``): the process's configuration."""
    if user_id is None and agent_id is None:
        raise ScopeError("engram mcp needs --user (env ENGRAM_USER) or --agent (env ENGRAM_AGENT)")
    target = Target(memory, user_id, agent_id, session_id)

    def resolve(ctx: Ctx, write: bool) -> Target:
        return target

    return resolve
