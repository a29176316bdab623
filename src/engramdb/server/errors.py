"""One JSON error envelope for every error: ``{"error": {"type", "message", ...}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from engramdb.core.errors import (
    AuthError,
    ConflictError,
    EngramError,
    ForbiddenError,
    NotFoundError,
    TooLargeError,
    ValidationError,
)

log = logging.getLogger("engramdb.server")

STATUS: list[tuple[type[EngramError], int]] = [
    (AuthError, 401), (ForbiddenError, 403), (NotFoundError, 404), (ConflictError, 409),
    (TooLargeError, 413), (ValidationError, 400),
]
_HTTP_TYPES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type", 422: "invalid_input"}


def envelope(status: int, type_: str, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": {"type": type_, "message": message, **extra}}, status_code=status,
                        headers=headers)


def status_of(exc: EngramError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500 if exc.code in ("store_error", "engram_error") else 503 if exc.code == "embedder_error" else 500


ENVELOPE_SCHEMA: dict[str, Any] = {
    "title": "Error", "type": "object", "required": ["error"], "additionalProperties": False,
    "properties": {"error": {
        "type": "object", "required": ["type", "message"],
        "properties": {"type": {"type": "string"}, "message": {"type": "string"},
                       "details": {"type": "array", "items": {"type": "object"}}}}},
}


def _document(app: FastAPI) -> None:
    """The schema FastAPI documents for a 422 is its own ``{"detail": [...]}``; ours is the envelope."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("schemas", {})["HTTPValidationError"] = ENVELOPE_SCHEMA
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _document(app)

    @app.exception_handler(EngramError)
    async def engram_error(request: Request, exc: EngramError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return envelope(status, exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
                   for e in exc.errors()[:20]]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        message = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else str(first["msg"])
        return envelope(422, "invalid_input", message, details=details)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return envelope(exc.status_code, _HTTP_TYPES.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        return envelope(400, "invalid_input", "the JSON body is nested too deeply")

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s crashed", request.method, request.url.path)
        return envelope(500, "internal_error", "internal server error (logged on the server)")
