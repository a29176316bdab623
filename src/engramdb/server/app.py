"""The HTTP API (``engram serve``): one FastAPI app over the Memory facade, per tenant.

``create_app`` wires the key ring, the tenant pool, the error envelope, the body limit,
metrics and access logs, the /v1 routes, health checks and the web inspector at /ui."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from engramdb.core.errors import StoreError
from engramdb.core.ports import Embedder
from engramdb.registry import open_embedder, open_keys
from engramdb.server import errors
from engramdb.server.auth import Gate
from engramdb.server.metrics import Metrics
from engramdb.server.middleware import BodyLimit, Observe
from engramdb.server.routes_facts import router as facts
from engramdb.server.routes_maintain import router as maintain
from engramdb.server.routes_memories import router as memories
from engramdb.server.routes_pipeline import router as pipeline
from engramdb.server.tenants import OPEN_TENANTS, TenantPool

log = logging.getLogger("engramdb.server")
MAX_BODY = 8 * 1024 * 1024  # one add holds at most 1 MB of content; imports are bigger


@dataclass(frozen=True)
class ServerConfig:
    db: str | Path | None = None  # the default tenant's database; other tenants beside it (or in schemas)
    embedder: str | Embedder | None = None
    max_body_bytes: int = MAX_BODY
    open_tenants: int = OPEN_TENANTS
    close_timeout: float = 10.0
    worker_threads: int = 2  # background threads per open tenant; 0: `engram worker` processes do it
    facts: bool | None = None  # derive facts from what users say; None: $ENGRAM_FACTS (on by default)


def create_app(config: ServerConfig | None = None) -> FastAPI:
    config = config or ServerConfig()
    keys = open_keys(config.db)
    embedder = config.embedder if config.embedder is not None and not isinstance(config.embedder, str) \
        else open_embedder(config.embedder)
    pool = TenantPool(config.db, embedder, size=config.open_tenants, close_timeout=config.close_timeout,
                      worker_threads=config.worker_threads, facts=config.facts)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with app.state.mcp.run():  # the MCP endpoint's session manager (mcp/mount.py)
                yield
        finally:
            pool.close()
            keys.close()

    app = FastAPI(title="engramdb", version=_version(), lifespan=lifespan,
                  description="Long-term memory for LLM agents: add, search into a token budget, history, "
                              "erasure. Authenticate with 'Authorization: Bearer <key>' (engram keys create).")
    app.state.gate = Gate(keys)
    app.state.pool = pool
    app.state.metrics = metrics
    errors.install(app)
    app.include_router(memories)
    app.include_router(pipeline)
    app.include_router(facts)
    app.include_router(maintain)
    from engramdb.mcp.mount import mount_mcp

    app.state.mcp = mount_mcp(app, pool, app.state.gate)
    _health(app, pool, metrics)
    from engramdb.server.ui import mount as mount_ui

    mount_ui(app)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(Observe, metrics=metrics)
    return app


def _health(app: FastAPI, pool: TenantPool, metrics: Metrics) -> None:
    @app.get("/healthz", tags=["ops"], summary="The process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="The default tenant's database and the key file answer")
    def readyz(request: Request) -> JSONResponse:
        try:
            request.app.state.gate.keys.active()
            with pool.lease("default") as mem:
                mem.count(user_id="__readyz__")
        except StoreError as exc:
            return errors.envelope(503, "not_ready", str(exc))
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["ops"], summary="Prometheus text format", response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(_queue_gauges(pool)), media_type="text/plain; version=0.0.4")


def _queue_gauges(pool: TenantPool) -> Iterator[tuple[str, str, dict[str, str], float]]:
    stats = []
    for tenant in sorted(pool.opened()):
        with pool.lease(tenant) as mem:  # not closed under us if the pool evicts it meanwhile
            stats.append((tenant, mem.status()))
    for tenant, status in stats:
        for stage in status.stages:
            yield ("engram_queue_jobs", "Jobs in the pipeline's queue by tenant, stage and state.",
                   {"tenant": tenant, "stage": stage.stage, "state": "pending"}, stage.pending)
            yield ("engram_queue_jobs", "", {"tenant": tenant, "stage": stage.stage, "state": "running"},
                   stage.running)
            yield ("engram_queue_jobs", "", {"tenant": tenant, "stage": stage.stage, "state": "failed"},
                   stage.failed)
    for tenant, status in stats:
        age = status.to_dict()["oldest_pending_age_s"]
        yield ("engram_queue_lag_seconds", "Age of the oldest pending job by tenant (0: none).",
               {"tenant": tenant}, float(age or 0.0))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("engramdb")
    except PackageNotFoundError:
        return "0"
