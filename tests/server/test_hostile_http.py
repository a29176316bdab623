"""Hostile requests against the real server: whatever arrives, the answer is a 4xx carrying the
error envelope (never a 5xx, never a hang), and nothing is half-written."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from tests.support.http_api import assert_envelope, issue
from tests.support.server import LiveServer, live_server

from engramdb.core.errors import ValidationError
from engramdb.stores.sqlite_keys import KeyRing

LIMIT = 64 * 1024
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("hostile") / "memory.db", max_body_bytes=LIMIT) as live:
        yield live


@pytest.fixture
def http(hostile: LiveServer) -> Iterator[httpx.Client]:
    with hostile.client() as client:
        before = _total(client)
        yield client
        assert _total(client) == before, "a refused request wrote something"


def _total(http: httpx.Client) -> int:
    """Every record version in the database (an export with no scope)."""
    lines = http.get("/v1/export").text.splitlines()
    return sum(1 for line in lines if json.loads(line)["type"] == "record")


def _raw(server: LiveServer, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """One request written byte for byte (what httpx refuses to send); (status, body)."""
    url = urlsplit(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        data = b""
        try:
            sock.sendall(head + body)
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:  # the server answered early and closed while we were sending
            pass
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def _chunks(total: int, piece: int = 8192) -> Iterator[bytes]:
    yield b'{"messages": "'
    for _ in range(total // piece):
        yield b"a" * piece
    yield b'", "user_id": "sam"}'


# ---- size ------------------------------------------------------------------------------------


def test_oversized_body_with_content_length(http: httpx.Client) -> None:
    body = json.dumps({"messages": "a" * (LIMIT + 10), "user_id": "sam"}).encode()
    assert_envelope(http.post("/v1/memories", content=body, headers=JSON), 413)
    assert_envelope(http.post("/v1/import", content=b"x" * (LIMIT + 1)), 413)


@pytest.mark.parametrize("path", ["/v1/memories", "/v1/memories/batch", "/v1/search", "/v1/import"])
def test_oversized_chunked_body(http: httpx.Client, path: str) -> None:
    """No Content-Length: the limit is enforced while the body is read."""
    response = http.post(path, content=_chunks(LIMIT * 3), headers=JSON)
    error = assert_envelope(response, 413)
    assert error["type"] == "too_large"


def test_chunked_body_under_the_limit_is_fine(hostile: LiveServer) -> None:
    with hostile.client() as http:
        response = http.post("/v1/memories", content=_chunks(LIMIT // 2), headers=JSON)
        assert response.status_code == 201, response.text
        http.request("DELETE", "/v1/scopes", params={"user_id": "sam"})


def test_content_length_beyond_the_limit_refused_before_reading(hostile: LiveServer) -> None:
    head = (b"POST /v1/memories HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 99999999999\r\nConnection: close\r\n\r\n")
    status, body = _raw(hostile, head, b'{"messages": "x"')
    assert status == 413 and json.loads(body)["error"]["type"] == "too_large"


# ---- shape and types -------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/memories", {"messages": 123, "user_id": "sam"}),
    ("/v1/memories", {"messages": "x", "user_id": 5}),
    ("/v1/memories", {"messages": "x", "user_id": ""}),
    ("/v1/memories", {"messages": "x", "user_id": "u" * 201}),
    ("/v1/memories", {"messages": "x", "user_id": "sam", "timestamp": True}),
    ("/v1/memories", {"messages": "x", "user_id": "sam", "timestamp": [2024]}),
    ("/v1/memories", {"messages": "x", "user_id": "sam", "metadata": [1, 2]}),
    ("/v1/memories", {"messages": [{"content": "x", "role": 7}], "user_id": "sam"}),
    ("/v1/memories", {"messages": [None], "user_id": "sam"}),
    ("/v1/memories", {"messages": "x", "user_id": "sam", "surprise": 1}),
    ("/v1/memories", {"messages": [{"content": "x", "surprise": 1}], "user_id": "sam"}),
    ("/v1/memories", {"messages": "", "user_id": "sam"}),
    ("/v1/memories", {"messages": [], "user_id": "sam"}),
    ("/v1/memories", {"messages": "x", "user_id": "sam", "kind": "nonsense"}),
    ("/v1/memories", {"messages": "x", "user_id": "sam", "timestamp": 1e308}),
    ("/v1/memories", {"messages": "x", "user_id": "sam", "timestamp": "yesterday-ish"}),
    ("/v1/memories", {"messages": "x", "user_id": "sam", "provenance": [1, 2]}),
    ("/v1/memories", []),
    ("/v1/memories", "just a string"),
    ("/v1/memories/batch", {"batches": []}),
    ("/v1/memories/batch", {"batches": [{"messages": "x", "user_id": "sam"}]}),
    ("/v1/memories/batch", {"batches": [{"messages": ["ok"], "user_id": "sam"}, {"messages": [""], "user_id": "sam"}]}),
    ("/v1/search", {"query": "x", "user_id": "sam", "k": 10**30}),
    ("/v1/search", {"query": "x", "user_id": "sam", "k": 1001}),
    ("/v1/search", {"query": "x", "user_id": "sam", "k": 0}),
    ("/v1/search", {"query": "x", "user_id": "sam", "k": -5}),
    ("/v1/search", {"query": "x", "user_id": "sam", "k": True}),
    ("/v1/search", {"query": "x", "user_id": "sam", "k": 2.5}),
    ("/v1/search", {"query": "x", "user_id": "sam", "k": "3"}),
    ("/v1/search", {"query": "x", "user_id": "sam", "budget_tokens": 0}),
    ("/v1/search", {"query": "x", "user_id": "sam", "budget_tokens": -100}),
    ("/v1/search", {"query": "x", "user_id": "sam", "budget_tokens": 10**12}),
    ("/v1/search", {"query": "", "user_id": "sam"}),
    ("/v1/search", {"query": "q" * 10_001, "user_id": "sam"}),
    ("/v1/search", {"query": "x"}),
    ("/v1/search", {"query": "x", "user_id": "sam", "filters": [1]}),
    ("/v1/search", {"query": "x", "user_id": "sam", "filters": {"$where": "1"}}),
    ("/v1/search", {"query": "x", "user_id": "sam", "filters": {"a": {"$gt": [1]}}}),
    ("/v1/search", {"query": "x", "user_id": "sam", "kinds": ["fact"] * 11}),
    ("/v1/search", {"query": "x", "user_id": "sam", "as_of": "never"}),
    ("/v1/search", {"query": "x", "user_id": "sam", "valid_at": -1e300}),
    ("/v1/search", {"query": "x", "user_id": "sam", "now": {"a": 1}}),
    ("/v1/flush", {"timeout": -1}),
    ("/v1/flush", {"timeout": 10**9}),
    ("/v1/jobs/retry", {"ids": [10**30]}),
    ("/v1/jobs/retry", {"ids": [-1]}),
    ("/v1/jobs/retry", {"ids": "1"}),
    ("/v1/jobs/retry", {"stage": "s" * 101}),
])
def test_wrong_types_unknown_fields_out_of_range(http: httpx.Client, path: str, body: object) -> None:
    response = http.post(path, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert_envelope(response)


@pytest.mark.parametrize("query", [
    {"limit": -1}, {"limit": 10**6}, {"offset": -1}, {"offset": 10**30}, {"limit": "many"},
    {"user_id": ""}, {"user_id": "u" * 201}, {"filters": "{not json"}, {"filters": "[]"},
    {"filters": "[" * 5000 + "]" * 5000}, {"filters": json.dumps({"$or": "x"})}, {"kinds": "bogus"},
    {"include_superseded": "perhaps"}, {"as_of": "2024-01-01", "include_superseded": "true"},
    {"valid_at": "next tuesday"}, {"as_of": "9" * 60},
])
def test_bad_query_parameters(http: httpx.Client, query: dict[str, object]) -> None:
    response = http.get("/v1/memories", params={"user_id": "sam", **query})
    assert 400 <= response.status_code < 500, response.text
    assert_envelope(response)


def test_invalid_json_and_invalid_utf8(http: httpx.Client) -> None:
    for body in (b"{", b"{'messages': 'x'}", b'{"messages": "x", "user_id": "sam",}', b"\xff\xfe\x00",
                 b'{"messages": "caf\xe9", "user_id": "sam"}', b'{"messages": "\xed\xa0\x80", "user_id": "sam"}',
                 b"", b"null", b"NaN", b'{"messages": "x", "user_id": "sam", "metadata": {"x": NaN}}'):
        response = http.post("/v1/memories", content=body, headers=JSON)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert_envelope(response)
    bad_import = http.post("/v1/import", content=b'{"type": "record", "content": "caf\xe9"}\n')
    assert_envelope(bad_import, 400)


def test_deeply_nested_json(http: httpx.Client) -> None:
    deep = b"[" * 30_000 + b"]" * 30_000  # under the body limit, far beyond any parser's recursion
    for body in (deep, b'{"messages": "x", "user_id": "sam", "metadata": {"a": ' + deep + b"}}",
                 b'{"query": "x", "user_id": "sam", "filters": {"a": ' + deep + b"}}"):
        for path in ("/v1/memories", "/v1/search"):
            response = http.post(path, content=body, headers=JSON)
            assert 400 <= response.status_code < 500, response.text
            assert_envelope(response)
    shallow_but_too_deep = b'{"messages": "x", "user_id": "sam", "metadata": {"a": ' + b"[" * 200 + b"]" * 200 + b"}}"
    assert_envelope(http.post("/v1/memories", content=shallow_but_too_deep, headers=JSON), 400)
    assert_envelope(http.post("/v1/import", content=deep), 400)


def test_hundred_thousand_nested_arrays(hostile: LiveServer, tmp_path: Path) -> None:
    with live_server(tmp_path / "big.db") as roomy, roomy.client() as http:  # the default 8 MB limit
        deep = b"[" * 100_000 + b"]" * 100_000
        for path, headers in (("/v1/memories", JSON), ("/v1/search", JSON), ("/v1/import", {})):
            response = http.post(path, content=deep, headers=headers)
            assert 400 <= response.status_code < 500, response.text
            assert_envelope(response)
        assert http.get("/readyz").status_code == 200


def test_non_json_content_types(http: httpx.Client) -> None:
    body = json.dumps({"messages": "x", "user_id": "sam"}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                         "application/xml", "image/png"):
        response = http.post("/v1/memories", content=body, headers={"content-type": content_type})
        assert 400 <= response.status_code < 500, (content_type, response.text)
        assert_envelope(response)
    assert_envelope(http.post("/v1/memories", data={"messages": "x", "user_id": "sam"}))


def test_wrong_methods_and_unknown_paths(http: httpx.Client) -> None:
    assert_envelope(http.put("/v1/memories", json={}), 405)
    assert_envelope(http.get("/v1/search"), 405)
    assert_envelope(http.get("/v1/nothing-here"), 404)
    assert_envelope(http.delete("/v1/memories"), 405)


def test_huge_query_strings(hostile: LiveServer, http: httpx.Client) -> None:
    for size in (20_000, 60_000):
        head = (f"GET /v1/memories?user_id={'u' * size}&filters={'%7B' * 10} HTTP/1.1\r\nHost: x\r\n"
                "Connection: close\r\n\r\n").encode()
        status, body = _raw(hostile, head)
        assert status == 422 and json.loads(body)["error"]["type"] == "invalid_input"
    # a request line beyond the HTTP parser's own limit never reaches the app: uvicorn answers a
    # plain 400 itself (documented limitation; no envelope possible there)
    status, body = _raw(hostile, f"GET /v1/memories?user_id={'u' * 1_000_000} HTTP/1.1\r\nHost: x\r\n"
                                 "Connection: close\r\n\r\n".encode())
    assert status == 400
    many = "&".join(f"kinds=k{i}" for i in range(5000))
    status, body = _raw(hostile, f"GET /v1/memories?user_id=sam&{many} HTTP/1.1\r\nHost: x\r\n"
                                 "Connection: close\r\n\r\n".encode())
    assert 400 <= status < 500 and "error" in json.loads(body)


def test_path_traversal_and_odd_ids(hostile: LiveServer, http: httpx.Client) -> None:
    for memory_id in ("..%2F..%2Fetc%2Fpasswd", "..", "%2e%2e", "a%00b", "%ED%A0%80", "%FF", "x" * 5000,
                      "%0d%0aSet-Cookie:%20x=1", "'%20OR%201=1--"):
        for method in ("GET", "DELETE"):
            response = http.request(method, f"/v1/memories/{memory_id}", params={"user_id": "sam"})
            assert 400 <= response.status_code < 500, (memory_id, response.text)
            assert_envelope(response)
            assert "set-cookie" not in response.headers
        patched = http.patch(f"/v1/memories/{memory_id}", json={"user_id": "sam", "content": "x"})
        assert_envelope(patched)
        history = http.get(f"/v1/memories/{memory_id}/history", params={"user_id": "sam"})
        assert_envelope(history)
    status, _body = _raw(hostile, b"GET /v1/memories/\xff\xfe/history?user_id=sam HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n")
    assert 400 <= status < 500


@pytest.mark.parametrize("name", ["../evil", "..", "a/b", "/etc/x", ".hidden", "acme\n", "Acme", "x" * 65, "",
                                  "con", "nul.db", "a..b", "acme.", "acme\x00", "ünï", "a b"])
def test_tenant_names_that_are_not_file_names(tmp_path: Path, name: str) -> None:
    ring = KeyRing(tmp_path / "memory.keys.db")
    try:
        with pytest.raises(ValidationError):
            ring.create(name)
        assert ring.list() == []
    finally:
        ring.close()
    assert all(p.name.startswith("memory.keys.db") for p in tmp_path.iterdir())


SURROGATE_BODIES = [
    ("/v1/memories", b'{"messages": "a\\ud800b", "user_id": "sam"}'),
    ("/v1/memories", b'{"messages": "ok", "user_id": "s\\ud800"}'),
    ("/v1/memories", b'{"messages": "ok", "user_id": "sam", "session_id": "\\udfff"}'),
    ("/v1/memories", b'{"messages": [{"content": "a\\udc00", "role": "user"}], "user_id": "sam"}'),
    ("/v1/memories", b'{"messages": [{"content": "ok", "speaker": "\\ud800"}], "user_id": "sam"}'),
    ("/v1/memories", b'{"messages": "ok", "user_id": "sam", "metadata": {"\\ud800": "\\ud800"}}'),
    ("/v1/memories", b'{"messages": "ok", "user_id": "sam", "kind": "\\ud800"}'),
    ("/v1/memories", b'{"messages": "ok", "user_id": "sam", "timestamp": "2024\\ud800"}'),
    ("/v1/memories", b'{"messages": "ok", "user_id": "sam", "provenance": ["\\ud800"]}'),
    ("/v1/memories/batch", b'{"batches": [{"messages": ["fine"], "user_id": "sam"}, '
                           b'{"messages": ["\\ud800"], "user_id": "sam"}]}'),
    ("/v1/search", b'{"query": "a\\ud800", "user_id": "sam"}'),
    ("/v1/search", b'{"query": "a", "user_id": "\\ud800"}'),
    ("/v1/search", b'{"query": "a", "user_id": "sam", "filters": {"topic": "\\ud800"}}'),
    ("/v1/search", b'{"query": "a", "user_id": "sam", "filters": {"\\ud800": 1}}'),
    ("/v1/search", b'{"query": "a", "user_id": "sam", "kinds": ["\\ud800"]}'),
    ("/v1/search", b'{"query": "a", "user_id": "sam", "valid_at": "\\ud800"}'),
    ("/v1/flush", b'{"user_id": "\\ud800"}'),
    ("/v1/jobs/retry", b'{"stage": "\\ud800"}'),
]


@pytest.mark.parametrize(("path", "body"), SURROGATE_BODIES)
def test_lone_surrogates(http: httpx.Client, path: str, body: bytes) -> None:
    response = http.post(path, content=body, headers=JSON)
    assert 400 <= response.status_code < 500, response.text
    assert_envelope(response)


def test_lone_surrogates_in_imports_and_queries(hostile: LiveServer, http: httpx.Client) -> None:
    [rec] = http.post("/v1/memories", json={"messages": "kept", "user_id": "sam"}).json()["memories"]
    line = json.dumps({**rec, "type": "record", "id": "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "content": "x\ud800"})
    assert_envelope(http.post("/v1/import", content=line.encode("utf-8", "surrogatepass")), 400)
    escaped = json.dumps({**rec, "type": "record", "id": "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "content": "x\ud800"},
                         ensure_ascii=True)
    assert_envelope(http.post("/v1/import", content=escaped.encode()), 400)
    filters = json.dumps({"topic": "\ud800"})
    assert_envelope(http.get("/v1/memories", params={"user_id": "sam", "filters": filters}), 400)
    for params in ({"user_id": "%ED%A0%80"}, {"user_id": "sam", "session_id": "%ED%A0%80"}):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        status, _ = _raw(hostile, f"GET /v1/memories?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                         .encode())
        assert status < 500
    http.request("DELETE", "/v1/scopes", params={"user_id": "sam"})


def test_refused_keys_still_get_the_envelope(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    _, secret = issue(db, users=["sam"], read_only=True)
    with live_server(db) as server, server.client(secret) as http:
        assert_envelope(http.post("/v1/memories", content=_chunks(LIMIT), headers=JSON), 403)
        assert_envelope(http.post("/v1/memories", content=b"[" * 50_000, headers=JSON))
        head = b"GET /v1/memories?user_id=sam HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n"
        status, body = _raw(server, head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        assert status == 401 and json.loads(body)["error"]["type"] == "unauthorized"
