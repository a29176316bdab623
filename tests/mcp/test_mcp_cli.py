"""`engram mcp` as a process: stdout carries the protocol and nothing else, the standalone
streamable-HTTP transport, and the refusals (no scope; a non-loopback address without keys)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
from mcp.types import CallToolResult, TextContent
from tests.support.pipeline import subprocess_env
from tests.support.server import free_port

from mcp import Client

ENGRAM = [sys.executable, "-c", "from engramdb.cli.main import main; main()", "mcp"]
ENV = subprocess_env(ENGRAM_EMBEDDER="hash:64")


def rpc(id_: int | None, method: str, **params: object) -> str:
    message: dict[str, object] = {"jsonrpc": "2.0", "method": method, "params": params}
    if id_ is not None:
        message["id"] = id_
    return json.dumps(message) + "\n"


def test_stdout_carries_only_the_protocol(tmp_path: Path) -> None:
    proc = subprocess.Popen([*ENGRAM, "--db", str(tmp_path / "m.db"), "--user", "sam"], env=ENV, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(rpc(1, "initialize", protocolVersion="2025-06-18", capabilities={},
                         clientInfo={"name": "raw", "version": "0"}))
    proc.stdin.write(rpc(None, "notifications/initialized"))
    proc.stdin.write(rpc(2, "tools/call", name="remember", arguments={"content": "I prefer window seats"}))
    proc.stdin.flush()
    answers: dict[int, dict[str, object]] = {}

    def read_until(n: int) -> None:
        assert proc.stdout is not None
        while len(answers) < n:  # every line is a JSON-RPC message: nothing else reaches stdout
            message = json.loads(proc.stdout.readline())
            assert message["jsonrpc"] == "2.0"
            answers[message["id"]] = message["result"]

    read_until(2)  # the server may run requests side by side: recall only once remember answered
    proc.stdin.write(rpc(3, "tools/call", name="recall", arguments={"query": "seat preference"}))
    proc.stdin.flush()
    read_until(3)
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert proc.stdout.read() == ""
    content = answers[3]["content"]
    assert isinstance(content, list) and "window seats" in content[0]["text"]
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_refusals_are_one_line_on_stderr(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    for args, needle in ((["--db", db], "--user"),
                         (["--db", db, "--user", "sam", "--transport", "http", "--host", "0.0.0.0"], "engram serve")):
        proc = subprocess.run([*ENGRAM, *args], env=ENV, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr.startswith("engram: error:") and proc.stderr.count("\n") == 1 and needle in proc.stderr


def test_standalone_streamable_http(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([*ENGRAM, "--db", str(tmp_path / "m.db"), "--user", "sam", "--transport", "http",
                             "--port", str(port)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "engram mcp --transport http did not start"
                time.sleep(0.05)
        anyio.run(_remember_and_recall, url)
        # the SDK's DNS-rebinding guard: a request naming another host is refused
        assert httpx.post(url, headers={"Host": "evil.example"}, json={}).status_code == 421
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _remember_and_recall(url: str) -> None:
    async with Client(url, read_timeout_seconds=30) as client:
        added = await client.call_tool("remember", {"content": "The spare key is under the blue pot"})
        assert isinstance(added, CallToolResult) and not added.is_error
        found = await client.call_tool("recall", {"query": "where is the spare key?"})
        assert isinstance(found, CallToolResult) and isinstance(found.content[0], TextContent)
        assert "blue pot" in found.content[0].text
