"""A scripted OpenAI-compatible chat server on loopback: a real ThreadingHTTPServer that
answers ``POST .../chat/completions`` with the scripted replies in order and records every
request (path, headers, JSON body). Out of script, it answers 599, so a test that sends
more requests than it meant to fails loudly rather than hanging."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Recorded", "Reply", "ScriptedChatServer", "chat", "error"]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON payload
    raw: bytes | None = None  # sent as is instead of ``body``
    delay_s: float = 0.0  # wait before answering (timeouts)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


def chat(content: str, *, prompt_tokens: int | None = 11, completion_tokens: int | None = 7,
         finish_reason: str = "stop", delay_s: float = 0.0) -> Reply:
    """A chat completion answering ``content``; token counts None: no ``usage`` in the answer."""
    payload: dict[str, Any] = {
        "id": "chatcmpl-test", "object": "chat.completion", "model": "scripted",
        "choices": [{"index": 0, "finish_reason": finish_reason,
                     "message": {"role": "assistant", "content": content}}],
    }
    if prompt_tokens is not None and completion_tokens is not None:
        payload["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                            "total_tokens": prompt_tokens + completion_tokens}
    return Reply(body=payload, delay_s=delay_s)


def error(status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
    """An error in OpenAI's envelope."""
    return Reply(status=status, body={"error": {"message": message, "type": "invalid_request_error"}},
                 headers=headers or {})


class ScriptedChatServer:
    """``with ScriptedChatServer(replies) as server: ... server.url ... server.requests``.

    ``respond`` (optional) answers each request the script has no reply left for, from the
    request itself: a scripted model that reads its prompt."""

    def __init__(self, replies: Iterable[Reply] = (), respond: Callable[[Recorded], Reply] | None = None) -> None:
        self._replies = list(replies)
        self._respond = respond
        self._lock = threading.Lock()
        self.requests: list[Recorded] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def bodies(self) -> list[Any]:
        return [r.body for r in self.requests]

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def __enter__(self) -> ScriptedChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            if self._replies:
                return self._replies.pop(0)
        if self._respond is not None:
            return self._respond(recorded)
        return Reply(status=599, body={"error": {"message": "the test script has no reply left"}})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                reply = server._next(Recorded(self.path, dict(self.headers.items()), body))
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
