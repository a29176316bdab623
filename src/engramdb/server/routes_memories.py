"""/v1 memory routes: add, search, get, list, update, supersede, delete, history, scopes.

Handlers are plain ``def``: FastAPI runs them in its thread pool, so SQLite and the embedder
never block the event loop. Each names the scope it touches; the grant is checked first."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from engramdb.core.errors import ValidationError
from engramdb.engine.ingest import Batch
from engramdb.server.context import CallerDep
from engramdb.server.schemas import (
    MAX_K,
    AddBody,
    AddManyBody,
    Message,
    SearchBody,
    SupersedeBody,
    UpdateBody,
)

router = APIRouter(prefix="/v1", tags=["memories"])
NameQ = Annotated[str | None, Query(min_length=1, max_length=200)]


def _messages(items: str | list[Message | str]) -> Any:
    if isinstance(items, str):
        return items
    return [m.model_dump(exclude_none=True) if isinstance(m, Message) else m for m in items]


def _filters(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ValidationError("filters must be a JSON object") from None
    if not isinstance(value, dict):
        raise ValidationError("filters must be a JSON object")
    return value


@router.post("/memories", status_code=201, summary="Add a text or messages (acknowledged; embedded in the background)")
def add(body: AddBody, caller: CallerDep) -> dict[str, Any]:
    mem = caller.memory(body.user_id, body.agent_id, write=True)
    records = mem.add(_messages(body.messages), user_id=body.user_id, agent_id=body.agent_id,
                      session_id=body.session_id, timestamp=body.timestamp, metadata=body.metadata,
                      kind=body.kind, role=body.role, speaker=body.speaker, provenance=body.provenance,
                      subject=body.subject, attribute=body.attribute, expires_at=body.expires_at, ttl=body.ttl)
    return {"memories": [r.to_dict() for r in records]}


@router.post("/memories/batch", status_code=201, summary="Bulk add: batches of messages, all validated first")
def add_many(body: AddManyBody, caller: CallerDep) -> dict[str, Any]:
    for item in body.batches:
        caller.grant.check(item.user_id, item.agent_id, write=True)
    mem = caller.memory(body.batches[0].user_id, body.batches[0].agent_id, write=True)
    batches = [Batch(messages=_messages(b.messages), user_id=b.user_id, agent_id=b.agent_id,
                     session_id=b.session_id, metadata=b.metadata or {}) for b in body.batches]
    return {"written": mem.add_many(batches)}


@router.post("/search", summary="Ranked memories and the packed context for a query")
def search(body: SearchBody, caller: CallerDep) -> dict[str, Any]:
    mem = caller.memory(body.user_id, body.agent_id, write=False)
    result = mem.search(body.query, user_id=body.user_id, agent_id=body.agent_id, session_id=body.session_id,
                        k=body.k, budget_tokens=body.budget_tokens, filters=body.filters, kinds=body.kinds,
                        as_of=body.as_of, valid_at=body.valid_at, now=body.now)
    return result.to_dict()


@router.get("/memories", summary="A scope's memories in event-time order, paginated")
def list_memories(caller: CallerDep, user_id: NameQ = None, agent_id: NameQ = None, session_id: NameQ = None,
                  kinds: Annotated[list[str] | None, Query(max_length=10)] = None,
                  filters: Annotated[str | None, Query(max_length=10_000, description="JSON object")] = None,
                  as_of: Annotated[str | None, Query(max_length=64)] = None,
                  valid_at: Annotated[str | None, Query(max_length=64)] = None,
                  include_superseded: bool = False,
                  order: Annotated[str, Query(pattern="^(asc|desc)$", description="event time order")] = "asc",
                  limit: Annotated[int, Query(ge=0, le=MAX_K)] = 100,
                  offset: Annotated[int, Query(ge=0, le=10**12)] = 0) -> dict[str, Any]:
    mem = caller.memory(user_id, agent_id, write=False)
    records = mem.list(user_id=user_id, agent_id=agent_id, session_id=session_id, filters=_filters(filters),
                       kinds=kinds, as_of=as_of, valid_at=valid_at, include_superseded=include_superseded,
                       limit=limit, offset=offset, newest_first=order == "desc")
    more = len(records) == limit and limit > 0
    return {"memories": [r.to_dict() for r in records], "next_offset": offset + len(records) if more else None}


@router.get("/memories/{memory_id}", summary="One memory (its current version)")
def get(memory_id: str, caller: CallerDep, user_id: NameQ = None, agent_id: NameQ = None,
        session_id: NameQ = None) -> dict[str, Any]:
    mem = caller.memory(user_id, agent_id, write=False)
    return mem.get(memory_id, user_id=user_id, agent_id=agent_id, session_id=session_id).to_dict()


@router.patch("/memories/{memory_id}", summary="New content / metadata / time; the old version stays in history")
def update(memory_id: str, body: UpdateBody, caller: CallerDep) -> dict[str, Any]:
    mem = caller.memory(body.user_id, body.agent_id, write=True)
    return mem.update(memory_id, content=body.content, metadata=body.metadata, timestamp=body.timestamp,
                      user_id=body.user_id, agent_id=body.agent_id, session_id=body.session_id).to_dict()


@router.post("/memories/{memory_id}/supersede", status_code=201,
             summary="Replace an outdated memory with a new one (the old one stays readable in the past)")
def supersede(memory_id: str, body: SupersedeBody, caller: CallerDep) -> dict[str, Any]:
    mem = caller.memory(body.user_id, body.agent_id, write=True)
    return mem.supersede(memory_id, body.content, metadata=body.metadata, timestamp=body.timestamp,
                         kind=body.kind, user_id=body.user_id, agent_id=body.agent_id,
                         session_id=body.session_id).to_dict()


@router.delete("/memories/{memory_id}", summary="Delete a memory for good (and what was derived from it)")
def delete(memory_id: str, caller: CallerDep, user_id: NameQ = None, agent_id: NameQ = None,
           session_id: NameQ = None) -> dict[str, Any]:
    mem = caller.memory(user_id, agent_id, write=True)
    mem.delete(memory_id, user_id=user_id, agent_id=agent_id, session_id=session_id)
    return {"deleted": memory_id}


@router.get("/memories/{memory_id}/history", summary="Every change to a memory, with before / after")
def history(memory_id: str, caller: CallerDep, user_id: NameQ = None, agent_id: NameQ = None,
            session_id: NameQ = None) -> dict[str, Any]:
    mem = caller.memory(user_id, agent_id, write=False)
    events = mem.history(memory_id, user_id=user_id, agent_id=agent_id, session_id=session_id)
    return {"events": [e.to_dict() for e in events]}


@router.delete("/scopes", summary="Delete every memory of a scope, leaving nothing about it")
def delete_scope(caller: CallerDep, user_id: NameQ = None, agent_id: NameQ = None,
                 session_id: NameQ = None) -> dict[str, Any]:
    mem = caller.memory(user_id, agent_id, write=True)
    return {"deleted": mem.delete_scope(user_id=user_id, agent_id=agent_id, session_id=session_id)}


@router.get("/scopes", summary="Users / agents (or sessions) that hold memories, with counts")
def scopes(caller: CallerDep, user_id: NameQ = None, agent_id: NameQ = None, session_id: NameQ = None,
           by_session: bool = False) -> JSONResponse:
    mem = caller.memory(user_id, agent_id, write=False)
    found = mem.scopes(user_id=user_id, agent_id=agent_id, session_id=session_id, by_session=by_session)
    return JSONResponse({"scopes": [s.to_dict() for s in found]})
