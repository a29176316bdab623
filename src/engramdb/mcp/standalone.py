"""``engram mcp``: one Memory and one scope, served over stdio (the default: the client starts
the process) or streamable HTTP on loopback (one process serving several local clients)."""

from __future__ import annotations

from typing import Any, Literal

import anyio
from mcp.server.mcpserver import MCPServer

from engramdb.engine.memory import Memory
from engramdb.mcp.target import fixed
from engramdb.mcp.tools import build_server, package_version

Transport = Literal["stdio", "http"]
HTTP_PATH = "/mcp"


def make_server(memory: Memory, *, user_id: str | None, agent_id: str | None = None,
                session_id: str | None = None) -> MCPServer[Any]:
    return build_server(fixed(memory, user_id, agent_id, session_id), version=package_version())


def run(server: MCPServer[Any], transport: Transport = "stdio", *, host: str = "127.0.0.1",
        port: int = 8766) -> None:
    """Serve until the client closes stdin (stdio) or the process is interrupted (HTTP). While
    stdio is served the SDK points fd 1 at stderr, so a stray print cannot corrupt the protocol."""
    if transport == "stdio":
        anyio.run(server.run_stdio_async)
        return
    import uvicorn

    # Stateless JSON responses: every request stands alone (no session to lose on a restart);
    # the SDK turns on its DNS-rebinding guard (Host / Origin checks) for a loopback host.
    app = server.streamable_http_app(streamable_http_path=HTTP_PATH, stateless_http=True, json_response=True,
                                     host=host)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
