"""/v1/maintain: one maintenance pass over the tenant's database (archive what retention says is
forgotten, erase what expired; README "Forgetting"). Tenant-wide, so only a key without user /
agent limits may run it; a dry run reads only (a read-only key may ask what it would do)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from engramdb.server.context import CallerDep
from engramdb.server.schemas import MaintainBody

router = APIRouter(prefix="/v1", tags=["pipeline"])


@router.post("/maintain", summary="Archive forgotten memories and erase expired ones (dry_run: only report)")
def maintain(body: MaintainBody, caller: CallerDep) -> dict[str, Any]:
    mem = caller.admin(write=not body.dry_run)
    return mem.maintain(dry_run=body.dry_run).to_dict()
