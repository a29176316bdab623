"""The MCP endpoint of the HTTP API server, at ``/mcp`` (streamable HTTP, stateless, JSON).

Each request is authenticated like a /v1 request (``Authorization: Bearer <key>`` or
``X-API-Key``; refused with 401 once keys exist), then bound to a scope: the user named by
the ``X-Engram-User`` header or the ``user_id`` query parameter, else the only user the key
allows (likewise ``X-Engram-Agent`` / ``agent_id``; ``X-Engram-Session`` / ``session_id``
sets where new memories go). The key's grant is checked against that scope before the SDK
sees the request (403 otherwise), and again by every tool, with ``write`` for remember and
forget, so a read-only key cannot change anything. The key's tenant picks the database."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from engramdb.core.errors import AuthError, EngramError, ForbiddenError, ScopeError
from engramdb.mcp.target import Binding, Ctx, Resolver, Target
from engramdb.mcp.tools import build_server, package_version
from engramdb.server import errors
from engramdb.server.auth import Gate
from engramdb.server.net import is_loopback
from engramdb.server.tenants import TenantPool

ENDPOINT = "/mcp"
SCOPE_KEY = "engramdb.mcp.binding"  # where a checked request carries its binding to the tools
MEMORY_KEY = "engramdb.mcp.memory"  # and the tenant's Memory, leased for the request
_FIELDS = (("user_id", "x-engram-user"), ("agent_id", "x-engram-agent"), ("session_id", "x-engram-session"))


def mount_mcp(app: FastAPI, pool: TenantPool, gate: Gate) -> StreamableHTTPSessionManager:
    """Serve the MCP tools at /mcp of ``app``. The returned session manager must run for as long
    as the app does: enter ``manager.run()`` in the app's lifespan."""
    server = build_server(resolver(pool), version=package_version())
    # The app is only used for its session manager; the key check below stands in for the
    # SDK's OAuth (and for its Host check too: see bind())
    server.streamable_http_app(stateless_http=True, json_response=True,
                               transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    manager = server.session_manager
    app.router.routes.append(Route(ENDPOINT, endpoint=Endpoint(gate, manager, pool), include_in_schema=False))
    return manager


def resolver(pool: TenantPool) -> Resolver:
    def resolve(ctx: Ctx, write: bool) -> Target:
        request: Any = ctx.request_context.request
        binding = request.scope.get(SCOPE_KEY) if isinstance(request, Request) else None
        if not isinstance(binding, Binding):
            raise AuthError("this request carries no checked API key")
        binding.grant.check(binding.user_id, binding.agent_id, write=write)
        leased = request.scope.get(MEMORY_KEY)
        memory = leased if leased is not None else pool.get(binding.grant.tenant)
        return Target(memory, binding.user_id, binding.agent_id, binding.session_id)

    return resolve


class Endpoint:
    """ASGI app at /mcp: the key and the scope are checked (in a worker thread: the key ring is
    SQLite) before the SDK's session manager handles the request."""

    def __init__(self, gate: Gate, manager: StreamableHTTPSessionManager, pool: TenantPool) -> None:
        self.gate = gate
        self.manager = manager
        self.pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            binding = await anyio.to_thread.run_sync(bind, request, self.gate)
        except EngramError as exc:
            await errors.envelope(errors.status_of(exc), exc.code, str(exc))(scope, receive, send)
            return
        scope[SCOPE_KEY] = binding
        # the tenant's Memory stays open until the response is sent, even if the pool evicts it
        memory = await anyio.to_thread.run_sync(self.pool.acquire, binding.grant.tenant)
        scope[MEMORY_KEY] = memory
        try:
            await self.manager.handle_request(scope, receive, send)
        finally:
            self.pool.release(memory)


def bind(request: Request, gate: Gate) -> Binding:
    grant = gate.grant(request)
    if grant.key_id is None and not is_loopback(request.url.hostname or ""):
        # without keys the server is for its own machine only; a page on another site that
        # rebinds its DNS name to 127.0.0.1 still sends its own name as Host
        raise ForbiddenError("without API keys, /mcp answers only requests addressed to a loopback host")
    named = {field: request.headers.get(header) or request.query_params.get(field) or None
             for field, header in _FIELDS}
    user_id = named["user_id"] or _only(grant.users)
    agent_id = named["agent_id"] or _only(grant.agents)
    if user_id is None and agent_id is None:
        raise ScopeError("name the user whose memory this is: the X-Engram-User header or ?user_id= "
                         "(this API key is not restricted to a single user)")
    grant.check(user_id, agent_id, write=False)
    return Binding(grant, user_id, agent_id, named["session_id"])


def _only(allowed: frozenset[str] | None) -> str | None:
    return next(iter(allowed)) if allowed is not None and len(allowed) == 1 else None


