"""/v1 routes for facts and profiles: the facts of a scope with their validity (valid_from =
event time, valid_to, superseded_by), and the profile read from them. Reads: the grant is
checked for the named user / agent before anything is read, as on every other read route."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from engramdb.lifecycle.facts import USER
from engramdb.server.context import CallerDep
from engramdb.server.routes_memories import NameQ
from engramdb.server.schemas import MAX_K

router = APIRouter(prefix="/v1", tags=["facts"])
TimeQ = Annotated[str | None, Query(max_length=64)]


@router.get("/facts", summary="A scope's facts: those that hold now (valid_at: then; include_superseded: all)")
def facts(caller: CallerDep, user_id: NameQ = None, agent_id: NameQ = None, session_id: NameQ = None,
          subject: NameQ = None, attribute: NameQ = None, valid_at: TimeQ = None, as_of: TimeQ = None,
          include_superseded: bool = False, limit: Annotated[int, Query(ge=0, le=MAX_K)] = 100,
          offset: Annotated[int, Query(ge=0, le=10**12)] = 0) -> dict[str, Any]:
    mem = caller.memory(user_id, agent_id, write=False)
    found = mem.facts(user_id=user_id, agent_id=agent_id, session_id=session_id, subject=subject,
                      attribute=attribute, valid_at=valid_at, as_of=as_of, include_superseded=include_superseded,
                      limit=limit, offset=offset)
    more = len(found) == limit and limit > 0
    return {"facts": [f.to_dict() for f in found], "next_offset": offset + len(found) if more else None}


@router.get("/profile", summary="A user's profile: each slot's current value (or at valid_at) and its history")
def profile(caller: CallerDep, user_id: NameQ = None, agent_id: NameQ = None,
            subject: Annotated[str, Query(min_length=1, max_length=200)] = USER,
            valid_at: TimeQ = None) -> dict[str, Any]:
    mem = caller.memory(user_id, agent_id, write=False)
    return mem.profile(user_id, agent_id=agent_id, subject=subject, valid_at=valid_at).to_dict()
