"""What a route needs: the request's grant and its tenant's Memory, checked together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from engramdb.core.grants import Grant
from engramdb.engine.memory import Memory
from engramdb.server.auth import Gate
from engramdb.server.tenants import TenantPool


@dataclass
class Caller:
    grant: Grant
    pool: TenantPool

    def memory(self, user_id: str | None = None, agent_id: str | None = None, *, write: bool,
               ) -> Memory:
        """The tenant's Memory, only once the grant allows this user / agent (and a write)."""
        self.grant.check(user_id, agent_id, write=write)
        return self.pool.get(self.grant.tenant)

    def admin(self, *, write: bool) -> Memory:
        """Tenant-wide operations (every job, every scope) need a key without user/agent limits."""
        self.grant.check(None, None, write=write)
        return self.pool.get(self.grant.tenant)


def caller(request: Request) -> Caller:
    gate: Gate = request.app.state.gate
    return Caller(gate.grant(request), request.app.state.pool)


CallerDep = Annotated[Caller, Depends(caller)]
