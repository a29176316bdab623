"""``engram mcp``: the MCP server over one database and one scope (stdio by default)."""

from __future__ import annotations

import logging
import sys

import click

from engramdb.core.errors import ConfigError, ScopeError
from engramdb.server.net import is_loopback


@click.command("mcp")
@click.option("--db", envvar="ENGRAM_DB", default=None, metavar="PATH",
              help="Database file, made on first use (default: the user data dir; env ENGRAM_DB).")
@click.option("--embedder", envvar="ENGRAM_EMBEDDER", default=None, help="local (default), hash[:DIM] or openai:MODEL.")
@click.option("--user", "user_id", envvar="ENGRAM_USER", default=None, metavar="U",
              help="Whose memory the tools read and write (env ENGRAM_USER).")
@click.option("--agent", "agent_id", envvar="ENGRAM_AGENT", default=None, metavar="A",
              help="The agent's id, part of the scope (env ENGRAM_AGENT).")
@click.option("--session", "session_id", envvar="ENGRAM_SESSION", default=None, metavar="S",
              help="Session new memories are filed under (env ENGRAM_SESSION); reads span every session.")
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True,
              help="stdio (the client starts this process) or streamable HTTP at http://HOST:PORT/mcp.")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP: address to bind (loopback only).")
@click.option("--port", type=click.IntRange(0, 65535), default=8766, show_default=True, help="HTTP: port.")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level on stderr (default: warnings only).")
def mcp(db: str | None, embedder: str | None, user_id: str | None, agent_id: str | None, session_id: str | None,
        transport: str, host: str, port: int, verbose: bool) -> None:
    """Serve memory as MCP tools for one user: `engram mcp --db memory.db --user sam`.

    Tools: recall, search, list_memories, get_memory, memory_history, remember, update_memory,
    supersede_memory, forget, forget_all, flush (docs/mcp.md). Logs go to stderr; on stdio,
    stdout carries only the protocol."""
    if user_id is None and agent_id is None:
        raise ScopeError("engram mcp needs --user (env ENGRAM_USER) or --agent (env ENGRAM_AGENT)")
    if transport == "http" and not is_loopback(host):
        raise ConfigError(f"refusing to serve MCP on {host}: `engram mcp` has no authentication; use "
                          "`engram serve` with API keys (its /mcp endpoint) to serve other machines")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="engram mcp: %(levelname)s %(name)s: %(message)s")
    from engramdb.engine.memory import Memory
    from engramdb.mcp.standalone import make_server, run

    with Memory(db, embedder=embedder) as memory:
        server = make_server(memory, user_id=user_id, agent_id=agent_id, session_id=session_id)
        if transport == "http":
            who = " ".join(f"{k}={v}" for k, v in (("user", user_id), ("agent", agent_id)) if v is not None)
            click.echo(f"engram mcp: serving http://{host}:{port}/mcp for {who}", err=True)
        run(server, "http" if transport == "http" else "stdio", host=host, port=port)
