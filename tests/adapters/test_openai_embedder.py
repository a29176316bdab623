"""The OpenAI-compatible embedder against a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from engramdb import EmbedderError, Memory
from engramdb.embedders.hashing import HashEmbedder
from engramdb.embedders.openai import OpenAIEmbedder, OpenAIEmbedderOptions

_REFERENCE = HashEmbedder(64)


class _Handler(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []
    mode = "ok"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.mode == "error":
            self._send(429, {"error": {"message": "rate limited"}})
            return
        if self.mode == "garbage":
            self._send(200, {"unexpected": True})
            return
        vectors = _REFERENCE.embed_documents(body["input"]) * 3.0  # not normalised: the adapter must normalise
        data = [{"index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        self._send(200, {"data": list(reversed(data)), "model": body["model"]})  # out of order on purpose

    def _send(self, code: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    _Handler.requests = []
    _Handler.mode = "ok"
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_embeds_in_batches_in_order_and_normalised(server: str) -> None:
    emb = OpenAIEmbedder(OpenAIEmbedderOptions(base_url=server, model="m", api_key="sk-test", batch_size=2))
    texts = ["one", "two", "three"]
    out = emb.embed_documents(texts)
    assert out.shape == (3, 64)
    np.testing.assert_allclose(out, _REFERENCE.embed_documents(texts), atol=1e-6)
    assert [len(r["body"]["input"]) for r in _Handler.requests] == [2, 1]
    assert all(r["path"] == "/v1/embeddings" and r["auth"] == "Bearer sk-test" for r in _Handler.requests)
    assert emb.model_id == "openai:m" and emb.dim == 64


def test_memory_works_end_to_end_with_the_endpoint(server: str, tmp_path: Path) -> None:
    emb = OpenAIEmbedder(OpenAIEmbedderOptions(base_url=server, model="m"))
    with Memory(tmp_path / "o.db", embedder=emb, background=False) as mem:
        mem.add("the cat is called Pimenta", user_id="u")
        assert mem.search("Pimenta", user_id="u").hits[0].record.content == "the cat is called Pimenta"


def test_http_errors_and_bad_payloads_become_embedder_errors(server: str) -> None:
    emb = OpenAIEmbedder(OpenAIEmbedderOptions(base_url=server, model="m"))
    _Handler.mode = "error"
    with pytest.raises(EmbedderError, match="429"):
        emb.embed_documents(["x"])
    _Handler.mode = "garbage"
    with pytest.raises(EmbedderError, match="unexpected"):
        emb.embed_documents(["x"])


def test_unreachable_endpoint_is_a_clear_error() -> None:
    emb = OpenAIEmbedder(OpenAIEmbedderOptions(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=2))
    with pytest.raises(EmbedderError, match="unreachable"):
        emb.embed_query("x")


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(ValueError):
        OpenAIEmbedderOptions.model_validate({"base_url": "http://x", "temperature": 1})


def test_query_and_document_prefixes_are_sent_and_name_the_vectors(server: str, monkeypatch) -> None:
    monkeypatch.setenv("ENGRAM_EMBEDDER_BASE_URL", server)
    monkeypatch.setenv("ENGRAM_EMBEDDER_QUERY_PREFIX", "search_query: ")
    monkeypatch.setenv("ENGRAM_EMBEDDER_DOCUMENT_PREFIX", "search_document: ")
    emb = OpenAIEmbedder(OpenAIEmbedderOptions.from_env("nomic"))
    emb.embed_documents(["a turn"])
    emb.embed_query("a question")
    sent = [r["body"]["input"] for r in _Handler.requests]
    assert sent == [["search_document: a turn"], ["search_query: a question"]]
    plain = OpenAIEmbedder(OpenAIEmbedderOptions(base_url=server, model="nomic"))
    assert emb.model_id != plain.model_id and plain.model_id == "openai:nomic"
