"""The MCP server (``engram mcp``): engramdb's memory as tools for LLM agents.

``tools.build_server`` makes the tools over a resolver that says which Memory and scope a
call acts on: fixed by configuration for ``engram mcp`` (stdio or standalone HTTP, see
``standalone``), or taken from the request's API key for the endpoint mounted at ``/mcp``
of ``engram serve`` (see ``mount``)."""
