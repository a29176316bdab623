"""The shared benchmark data lives next to the repository, never inside it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
LOCOMO = SHARED / "locomo" / "locomo_dev.json"
LONGMEMEVAL = SHARED / "longmemeval" / "longmemeval_s_sample.json.gz"


def need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"benchmark data not found at {path} (the shared data folder sits next to the repo)")
    return path


@pytest.fixture
def locomo_path() -> Path:
    return need(LOCOMO)


@pytest.fixture
def longmemeval_path() -> Path:
    return need(LONGMEMEVAL)


class Server:
    """A loopback OpenAI-compatible endpoint: replies are queued (status, payload) pairs, or come
    from ``respond`` when the queue is empty."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.respond: Any = None


@pytest.fixture
def server() -> Iterator[tuple[Server, str]]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(json.loads(body))
            state.headers.append(dict(self.headers))
            status, payload = state.replies.pop(0) if state.replies else (200, state.respond(state.requests[-1]))
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()
