"""Schemathesis (4.x) over the app's own OpenAPI schema: every operation gets generated valid and
invalid requests, sent with an unrestricted key and with a read-only key restricted to one user.
Checks: no response is a 5xx, every 4xx carries the error envelope ``{"error": {"type",
"message"}}``, and a documented status has the documented body. In process (ASGI) and bounded,
so it runs in CI; ``ENGRAM_FUZZ_EXAMPLES`` raises the number of examples per operation (the
``slow`` test runs 10x more)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import response_schema_conformance
from starlette.types import Receive, Scope, Send
from tests.support.http_api import issue

from engramdb.server.app import ServerConfig, create_app

EXAMPLES = int(os.environ.get("ENGRAM_FUZZ_EXAMPLES", "12"))
_DIR = Path(tempfile.mkdtemp(prefix="engram-fuzz-"))
KEYS = {"admin": issue(_DIR / "memory.db")[1],
        "restricted": issue(_DIR / "memory.db", users=["sam"], read_only=True)[1]}
APP = create_app(ServerConfig(db=_DIR / "memory.db", embedder="hash:64"))


async def without_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """The app, its lifespan answered here: the lifespan runs the /mcp session manager (which
    runs once per app, and /mcp is not fuzzed here) and closes the tenants (done below)."""
    if scope["type"] != "lifespan":
        await APP(scope, receive, send)
        return
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


schemathesis.serializer.alias("application/x-ndjson", "text/plain")  # /v1/import: the text as is
# /mcp and /ui are other entry points with their own tests: /v1 and the ops routes here
schema = schemathesis.openapi.from_asgi("/openapi.json", without_lifespan).include(
    path_regex=r"^/(v1/|healthz|readyz|metrics)")


@pytest.fixture(scope="module", autouse=True)
def _close_app() -> Iterator[None]:
    yield
    APP.state.pool.close()
    APP.state.gate.keys.close()
    shutil.rmtree(_DIR, ignore_errors=True)


def _check(case: Case, secret: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {secret}"})
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        body: Any = response.json()
        assert isinstance(body, dict) and set(body) == {"error"}, where
        assert isinstance(body["error"].get("type"), str) and isinstance(body["error"].get("message"), str), where
    case.validate_response(response, checks=[response_schema_conformance])  # what the schema documents


_LENIENT = list(HealthCheck)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=_LENIENT, derandomize=True, database=None)
def test_no_5xx_and_the_envelope(case: Case) -> None:
    _check(case, KEYS["admin"])
    _check(case, KEYS["restricted"])


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=EXAMPLES * 10, deadline=None, suppress_health_check=_LENIENT, database=None)
def test_no_5xx_and_the_envelope_deep(case: Case) -> None:
    _check(case, KEYS["admin"])
    _check(case, KEYS["restricted"])
