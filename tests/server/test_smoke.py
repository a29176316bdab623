"""The real server answers over loopback: add, search, the envelope, keys turning auth on."""

from __future__ import annotations

import time

from tests.support.server import LiveServer


def test_add_search_and_keys(server: LiveServer) -> None:
    with server.client() as http:
        added = http.post("/v1/memories", json={"messages": "I adopted a cat named Pimenta", "user_id": "sam"})
        assert added.status_code == 201
        found = http.post("/v1/search", json={"query": "cat Pimenta", "user_id": "sam", "budget_tokens": 200})
        assert found.status_code == 200
        assert "Pimenta" in found.json()["context"]
    ring = server.keys()
    _, secret = ring.create("default", users=["sam"])
    ring.close()
    time.sleep(1.1)  # the server re-reads the key count every second
    with server.client() as anonymous:
        refused = anonymous.post("/v1/search", json={"query": "cat", "user_id": "sam"})
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "unauthorized"
    with server.client(secret) as http:
        assert http.post("/v1/search", json={"query": "cat", "user_id": "sam"}).status_code == 200
        other = http.post("/v1/search", json={"query": "cat", "user_id": "eve"})
        assert other.status_code == 403 and other.json()["error"]["type"] == "forbidden"
