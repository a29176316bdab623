"""What a route needs: the request's grant and its tenant's Memory, checked together."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
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
    _leased: list[Memory] = field(default_factory=list)

    def memory(self, user_id: str | None = None, agent_id: str | None = None, *, write: bool,
               ) -> Memory:
        """The tenant's Memory, only once the grant allows this user / agent (and a write)."""
        self.grant.check(user_id, agent_id, write=write)
        return self.tenant()

    def admin(self, *, write: bool) -> Memory:
        """Tenant-wide operations (every job, every scope) need a key without user/agent limits."""
        self.grant.check(None, None, write=write)
        return self.tenant()

    def tenant(self) -> Memory:
        """The tenant's Memory with no grant check (the caller checks), leased until the response
        is sent (a streamed export included)."""
        mem = self.pool.acquire(self.grant.tenant)
        self._leased.append(mem)
        return mem

    def release(self) -> None:
        while self._leased:
            self.pool.release(self._leased.pop())


def caller(request: Request) -> Iterator[Caller]:
    gate: Gate = request.app.state.gate
    who = Caller(gate.grant(request), request.app.state.pool)
    try:
        yield who
    finally:  # FastAPI runs this once the response is sent
        who.release()


CallerDep = Annotated[Caller, Depends(caller)]
