"""/v1 routes for the background pipeline (status, flush, jobs, retry) and export / import."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from engramdb.core.errors import ForbiddenError, ValidationError
from engramdb.server.context import CallerDep
from engramdb.server.routes_memories import NameQ
from engramdb.server.schemas import FlushBody, RetryBody

router = APIRouter(prefix="/v1", tags=["pipeline"])
NDJSON = "application/x-ndjson"


@router.get("/status", summary="The background pipeline's queue per stage")
def status(caller: CallerDep, user_id: NameQ = None, agent_id: NameQ = None,
           session_id: NameQ = None) -> dict[str, Any]:
    mem = caller.memory(user_id, agent_id, write=False)
    return mem.status(user_id=user_id, agent_id=agent_id, session_id=session_id).to_dict()


@router.post("/flush", summary="Wait until the queue (of a scope) is done, up to a timeout")
def flush(body: FlushBody, caller: CallerDep) -> dict[str, Any]:
    mem = caller.memory(body.user_id, body.agent_id, write=False)
    report = mem.flush(body.timeout, user_id=body.user_id, agent_id=body.agent_id, session_id=body.session_id)
    return report.to_dict()


@router.get("/jobs", summary="Queued jobs, oldest first (state=failed: the ones set aside)")
def jobs(caller: CallerDep, state: Annotated[str | None, Query(pattern="^(pending|running|failed)$")] = None,
         stage: Annotated[str | None, Query(max_length=100)] = None,
         limit: Annotated[int, Query(ge=0, le=1000)] = 100) -> dict[str, Any]:
    mem = caller.admin(write=False)
    return {"jobs": [j.to_dict() for j in mem.jobs(state=state, stage=stage, limit=limit)]}


@router.post("/jobs/retry", summary="Put failed jobs back in the queue")
def retry(body: RetryBody, caller: CallerDep) -> dict[str, Any]:
    mem = caller.admin(write=True)
    return {"retried": mem.retry(stage=body.stage, ids=body.ids)}


@router.get("/export", summary="Every version and history event of a scope, as JSON lines (streamed)",
            response_class=StreamingResponse, responses={200: {"content": {NDJSON: {}}}})
def export(caller: CallerDep, user_id: NameQ = None, agent_id: NameQ = None,
           session_id: NameQ = None) -> StreamingResponse:
    mem = caller.memory(user_id, agent_id, write=False)
    items = mem.export_items(user_id=user_id, agent_id=agent_id, session_id=session_id)

    def lines() -> Iterator[bytes]:
        for item in items:
            yield (json.dumps(item, ensure_ascii=False) + "\n").encode("utf-8")

    return StreamingResponse(lines(), media_type=NDJSON)


@router.post("/import", summary="Load an export (JSON lines in the body); all or nothing",
             openapi_extra={"requestBody": {"required": True, "content": {NDJSON: {"schema": {"type": "string"}}}}})
async def import_lines(request: Request, caller: CallerDep) -> dict[str, Any]:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"the body is not UTF-8 (byte {exc.start})") from None
    if caller.grant.read_only:
        raise ForbiddenError("this API key is read-only")

    def check(user_id: str | None, agent_id: str | None) -> None:  # every line's owner, before any write
        caller.grant.check(user_id, agent_id, write=True)

    mem = await run_in_threadpool(caller.tenant)
    written = await run_in_threadpool(mem.import_jsonl, text, source="<request>", allow=check)
    return {"written": written}
