"""A real ``engram serve`` for tests: a uvicorn server on a free loopback port, in a thread of
the test process (same code path as the CLI), with the shipped hash embedder by default."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from engramdb.core.grants import KeyStore
from engramdb.registry import open_keys
from engramdb.server.app import ServerConfig, create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    db: Path | str  # a SQLite file or a postgresql:// URL

    def keys(self) -> KeyStore:
        """The server's keys (create keys here; the server sees them within a second)."""
        return open_keys(self.db)

    def client(self, key: str | None = None, timeout: float = 30.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


@contextmanager
def live_server(db: Path | str, *, embedder: str = "hash:64", **config: object) -> Iterator[LiveServer]:
    app = create_app(ServerConfig(db=db, embedder=embedder, **config))  # type: ignore[arg-type]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, name="engram-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", db)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
