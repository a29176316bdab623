"""The MCP server over the Memory facade. Every tool acts on the target its resolver gives (a
scope fixed by configuration or by the request's API key), never on a scope the model names;
an EngramError becomes a tool error carrying its message, which the model can read and act on.

Tool functions are plain ``def``: the SDK runs them in a worker thread, so SQLite and the
embedder never block the event loop."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer

from engramdb.mcp import reads, writes
from engramdb.mcp.target import Resolver

INSTRUCTIONS = (
    "Long-term memory of this user across conversations. Call `recall` with the topic of the user's "
    "message before answering anything that may depend on the past (preferences, facts about people, "
    "earlier plans); it returns dated, attributed memories packed into a token budget. Call `remember` "
    "for what is worth keeping (stable facts, preferences, decisions, events with their date), and "
    "`supersede_memory` when a remembered fact is no longer true. `forget` deletes a memory for good "
    "when the user asks for it."
)


def build_server(resolve: Resolver, *, name: str = "engramdb", version: str = "") -> MCPServer[Any]:
    """An MCP server with engramdb's tools, each acting on ``resolve(ctx, write)``."""
    with _no_logging_setup():
        server: MCPServer[Any] = MCPServer(name, version=version, instructions=INSTRUCTIONS, log_level="WARNING")
    reads.register(server, resolve)
    writes.register(server, resolve)
    return server


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
