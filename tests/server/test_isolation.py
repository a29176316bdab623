"""Property: an API key never reaches outside its grant, whatever it asks through the HTTP API.

Random keys (tenant, a subset of users and / or agents, read-only or not) send random requests
(every /v1 route, random scopes, filters, queries and memory ids, other tenants' ids included)
to one app whose tenants hold memories of every user x agent. For every response:

* no memory, history snapshot or scope in it lies outside the key's tenant, users or agents
  (each content carries a marker ``<tenant>/<user>/<agent>`` of the scope it was written to);
* a write the grant does not allow answers 403 and changes nothing (every tenant's export,
  byte for byte); a read-only key never changes anything;
* nothing answers 5xx.

The in-process TestClient keeps it fast; the routes' real-server behaviour is in
test_http_api.py. CI runs a modest, derandomized number of examples. The benchmark run:

    ENGRAM_HYPOTHESIS_PROFILE=deep ENGRAM_ISOLATION_EXAMPLES=10000 \\
        .venv/bin/python -m pytest tests/server/test_isolation.py -q
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.http_api import issue

from engramdb import Memory

TENANTS = ("default", "t1", "t2")
USERS = ("u0", "u1", "u2")
AGENTS = ("a0", "a1")
SESSIONS = ("s0", "s1")
EXAMPLES = int(os.environ.get("ENGRAM_ISOLATION_EXAMPLES", "0")) or None  # None: the profile's number
MARKER = re.compile(r"\b(default|t1|t2)/(u\d|\*)/(a\d|\*)\b")
Scope = tuple[str | None, str | None, str | None]  # user, agent, session


@dataclass
class World:
    client: TestClient
    db: Path
    admin: dict[str, str]  # tenant -> unrestricted key
    ids: dict[str, list[str]] = field(default_factory=dict)  # tenant -> memory ids it held once
    imports: dict[tuple[str, str, str | None], bytes] = field(default_factory=dict)
    counter: int = 0

    def marker(self, tenant: str, user: str | None, agent: str | None) -> str:
        self.counter += 1
        return f"note {tenant}/{user or '*'}/{agent or '*'} number {self.counter} apple"

    def __repr__(self) -> str:
        return f"World({self.db})"

    def fingerprint(self) -> list[str]:
        return [self.client.get("/v1/export", headers=_auth(self.admin[t])).text for t in TENANTS]


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _import_lines(tenant: str, user: str, agent: str | None, tmp: Path) -> bytes:
    """An export of one memory of this owner, made by the library in a scratch database."""
    mem = Memory(tmp / f"scratch-{tenant}-{user}-{agent}.db", embedder="hash:64", background=False)
    try:
        mem.add(f"imported {tenant}/{user}/{agent or '*'} banana", user_id=user, agent_id=agent, session_id="s0")
        out = io.StringIO()
        mem.export_jsonl(out)
    finally:
        mem.close()
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from engramdb.server.app import ServerConfig, create_app

    tmp = tmp_path_factory.mktemp("isolation")
    db = tmp / "memory.db"
    admin = {t: issue(db, t)[1] for t in TENANTS}  # keys exist before the app: no open window
    app = create_app(ServerConfig(db=db, embedder="hash:64"))
    with TestClient(app, raise_server_exceptions=False) as client:
        w = World(client, db, admin)
        for tenant in TENANTS:
            w.ids[tenant] = []
            for user in USERS:
                for agent in (*AGENTS, None):
                    scope = {"user_id": user, "agent_id": agent, "session_id": SESSIONS[len(w.ids[tenant]) % 2]}
                    body = {"messages": [w.marker(tenant, user, agent), w.marker(tenant, user, agent)],
                            **scope, "metadata": {"topic": user}}
                    added = client.post("/v1/memories", json=body, headers=_auth(admin[tenant]))
                    assert added.status_code == 201, added.text
                    w.ids[tenant] += [m["id"] for m in added.json()["memories"]]
                    w.imports[(tenant, user, agent)] = _import_lines(tenant, user, agent, tmp)
        yield w


# ---- what a response may hold ----------------------------------------------------------------


@dataclass(frozen=True)
class KeyGrant:
    tenant: str
    users: frozenset[str] | None
    agents: frozenset[str] | None
    read_only: bool

    def allows(self, user: str | None, agent: str | None, *, write: bool) -> bool:
        if write and self.read_only:
            return False
        return all(allowed is None or given in allowed
                   for allowed, given in ((self.users, user), (self.agents, agent)))


def _owned(value: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a response that names an owner: records, hits, history snapshots, scopes."""
    if isinstance(value, dict):
        if "user_id" in value and "agent_id" in value:
            yield value
        for child in value.values():
            yield from _owned(child)
    elif isinstance(value, list):
        for child in value:
            yield from _owned(child)


def _check_visible(grant: KeyGrant, body: Any) -> None:
    for item in _owned(body):
        assert grant.users is None or item["user_id"] in grant.users, (grant, item)
        assert grant.agents is None or item["agent_id"] in grant.agents, (grant, item)
        content = item.get("content")
        if isinstance(content, str):
            for tenant, user, agent in MARKER.findall(content):
                assert tenant == grant.tenant, (grant, item)
                assert user in ("*", item["user_id"]) and agent in ("*", item["agent_id"]), item
    if isinstance(body, dict) and isinstance(body.get("context"), str):
        assert all(t == grant.tenant for t, _, _ in MARKER.findall(body["context"])), (grant, body["context"])


# ---- random requests ---------------------------------------------------------------------------


names = st.one_of(st.none(), st.sampled_from(USERS), st.just("nobody"))
agent_names = st.one_of(st.none(), st.sampled_from(AGENTS))
scopes = st.tuples(names, agent_names, st.one_of(st.none(), st.sampled_from(SESSIONS)))
filters = st.sampled_from([None, {"user_id": "u0"}, {"agent_id": "a1"}, {"topic": "u2"},
                           {"$or": [{"user_id": "u1"}, {"agent_id": "a0"}]},
                           {"$or": [{"user_id": {"$in": list(USERS)}}, {"topic": {"$ne": "zzz"}}]},
                           {"user_id": {"$ne": "u0"}}, {"session_id": "s1"}])
queries = st.sampled_from(["note", "apple", "banana", "u0", "t1 note", "default", "a1 number", "imported"])
grants = st.builds(KeyGrant, st.sampled_from(TENANTS),
                   st.one_of(st.none(), st.frozensets(st.sampled_from(USERS), min_size=1)),
                   st.one_of(st.none(), st.frozensets(st.sampled_from(AGENTS), min_size=1)), st.booleans())


def _params(scope: Scope) -> dict[str, str]:
    return {k: v for k, v in zip(("user_id", "agent_id", "session_id"), scope, strict=True) if v is not None}


@dataclass
class Request:
    method: str
    path: str
    kwargs: dict[str, Any]
    write: bool
    owners: list[tuple[str | None, str | None]]  # the scopes named: each must be granted
    admin: bool = False  # tenant-wide: needs a key without user / agent limits


@st.composite
def requests(draw: st.DrawFn, world: World, home: str) -> Request:
    """A request of a key of tenant ``home`` (what it writes is marked with ``home``)."""
    scope: Scope = draw(scopes)
    user, agent, _ = scope
    params = _params(scope)
    known = world.ids[draw(st.sampled_from(TENANTS))]  # grows as the run goes: draw an index, not an element
    memory_id = known[draw(st.integers(0, 2**20)) % len(known)]
    owner = [(user, agent)]
    kind = draw(st.sampled_from(["search", "list", "get", "history", "scopes", "export", "status", "flush", "jobs",
                                 "add", "batch", "update", "supersede", "delete", "delete_scope", "import",
                                 "retry", "facts", "profile", "maintain"]))
    marker = world.marker(home, user, agent)
    if kind == "search":
        body = {"query": draw(queries), "k": draw(st.integers(1, 60)), **params}
        if (f := draw(filters)) is not None:
            body["filters"] = f
        return Request("POST", "/v1/search", {"json": body}, False, owner)
    if kind == "list":
        query: dict[str, Any] = {**params, "limit": draw(st.integers(0, 80)), "offset": draw(st.integers(0, 20)),
                                 "include_superseded": draw(st.booleans())}
        if (f := draw(filters)) is not None:
            query["filters"] = json.dumps(f)
        return Request("GET", "/v1/memories", {"params": query}, False, owner)
    if kind in ("get", "history"):
        suffix = "/history" if kind == "history" else ""
        return Request("GET", f"/v1/memories/{memory_id}{suffix}", {"params": params}, False, owner)
    if kind in ("scopes", "export", "status"):
        extra = {"by_session": draw(st.booleans())} if kind == "scopes" else {}
        return Request("GET", f"/v1/{kind}", {"params": {**params, **extra}}, False, owner)
    if kind == "flush":
        return Request("POST", "/v1/flush", {"json": {**params, "timeout": 5}}, False, owner)
    if kind == "jobs":
        return Request("GET", "/v1/jobs", {}, False, [], admin=True)
    if kind == "retry":
        return Request("POST", "/v1/jobs/retry", {"json": {}}, True, [], admin=True)
    if kind == "facts":
        query = {**params, "include_superseded": draw(st.booleans()), "limit": draw(st.integers(0, 80))}
        return Request("GET", "/v1/facts", {"params": query}, False, owner)
    if kind == "profile":
        return Request("GET", "/v1/profile", {"params": params}, False, owner)
    if kind == "maintain":
        dry_run = draw(st.booleans())
        return Request("POST", "/v1/maintain", {"json": {"dry_run": dry_run}}, not dry_run, [], admin=True)
    if kind == "add":
        return Request("POST", "/v1/memories", {"json": {"messages": marker, **params}}, True, owner)
    if kind == "batch":
        other: Scope = draw(scopes)
        items = [{"messages": [marker], **params},
                 {"messages": [world.marker(home, other[0], other[1])], **_params(other)}]
        return Request("POST", "/v1/memories/batch", {"json": {"batches": items}}, True,
                       [owner[0], (other[0], other[1])])
    if kind == "update":
        return Request("PATCH", f"/v1/memories/{memory_id}", {"json": {"content": marker, **params}}, True, owner)
    if kind == "supersede":
        return Request("POST", f"/v1/memories/{memory_id}/supersede", {"json": {"content": marker, **params}},
                       True, owner)
    if kind == "delete":
        return Request("DELETE", f"/v1/memories/{memory_id}", {"params": params}, True, owner)
    if kind == "delete_scope":
        return Request("DELETE", "/v1/scopes", {"params": params}, True, owner)
    key = (home, draw(st.sampled_from(USERS)), draw(st.sampled_from((*AGENTS, None))))
    return Request("POST", "/v1/import", {"content": world.imports[key]}, True, [(key[1], key[2])])


def _allowed(grant: KeyGrant, request: Request) -> bool:
    if request.admin:
        return grant.users is None and grant.agents is None and not (request.write and grant.read_only)
    return all(grant.allows(u, a, write=request.write) for u, a in request.owners)


def _remember(world: World, grant: KeyGrant, body: Any) -> None:
    """New memory ids become targets of later requests (of any key, any tenant)."""
    for item in _owned(body):
        if isinstance(item.get("id"), str) and "content" in item:
            world.ids[grant.tenant].append(item["id"])


@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck)) if EXAMPLES else \
    settings(suppress_health_check=list(HealthCheck))
@given(grant=grants, data=st.data())
def test_a_key_never_reaches_outside_its_grant(world: World, grant: KeyGrant, data: st.DataObject) -> None:
    _, secret = issue(world.db, grant.tenant, users=sorted(grant.users) if grant.users else None,
                      agents=sorted(grant.agents) if grant.agents else None, read_only=grant.read_only)
    for _ in range(data.draw(st.integers(1, 4), label="requests")):
        request = data.draw(requests(world, grant.tenant), label="request")
        watch = grant.read_only or not _allowed(grant, request)
        before = world.fingerprint() if watch and request.write else None
        response = world.client.request(request.method, request.path, headers=_auth(secret), **request.kwargs)
        assert response.status_code < 500, (request, response.text)
        if not _allowed(grant, request):
            assert response.status_code == 403, (grant, request, response.text)
            assert response.json()["error"]["type"] == "forbidden"
        else:
            assert response.status_code != 403, (grant, request, response.text)
        if before is not None:
            assert world.fingerprint() == before, (grant, request, response.status_code)
        if response.status_code >= 400:
            assert set(response.json()) == {"error"}
            continue
        if response.headers["content-type"].startswith("application/x-ndjson"):
            body: Any = [json.loads(line) for line in response.text.splitlines() if line]
        else:
            body = response.json()
        _check_visible(grant, body)
        _remember(world, grant, body)
