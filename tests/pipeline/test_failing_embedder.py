"""An embeddings endpoint that fails (500, timeouts, garbage), as a real HTTP server on loopback:
writes stay stored and keyword-searchable, jobs are retried with backoff, then set aside as
failed with their error; once the endpoint recovers, a retry embeds them right (the queue's
part on both stores)."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from tests.support.pipeline import expected_keys, job_rows, queue, stored_keys, subprocess_env
from tests.support.probe import Target

from engramdb import Memory
from engramdb.embedders.hashing import HashEmbedder
from engramdb.embedders.openai import OpenAIEmbedder, OpenAIEmbedderOptions
from engramdb.pipeline.worker import WorkerOptions

REFERENCE = HashEmbedder(64)
TIMEOUT_S = 0.25
OPTIONS = WorkerOptions(backoff_s=0.05, backoff_max_s=0.1, max_attempts=3, idle_s=0.05)


class _Endpoint(BaseHTTPRequestHandler):
    """POST /v1/embeddings as OpenAI speaks it, or one way of failing (``mode``)."""

    mode: ClassVar[str] = "ok"
    calls: ClassVar[list[str]] = []
    release: ClassVar[threading.Event] = threading.Event()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        mode = type(self).mode
        type(self).calls.append(mode)
        if mode == "500":
            self._send(500, b'{"error": {"message": "internal error"}}')
            return
        if mode == "slow":
            type(self).release.wait(TIMEOUT_S * 4)  # longer than the client waits
        if mode == "json":
            self._send(200, b'{"data": [{"index": 0, "embedding": [0.1, 0.2')
            return
        vectors = REFERENCE.embed_documents(body["input"]) * 3.0
        if mode == "dim":
            vectors = vectors[:, :32]
        rows = [v.tolist() for v in vectors]
        if mode == "nan":
            rows[0][0] = math.nan  # json.dumps writes NaN, which json.loads reads back
        if mode == "count":
            rows = rows[:-1] if len(rows) > 1 else []
        data = [{"index": i, "embedding": r, "object": "embedding"} for i, r in enumerate(rows)]
        self._send(200, json.dumps({"object": "list", "data": data, "model": body["model"]}).encode())

    def _send(self, code: int, raw: bytes) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout mode)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Endpoint.mode = "ok"
    _Endpoint.calls = []
    _Endpoint.release = threading.Event()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    _Endpoint.release.set()
    httpd.shutdown()
    httpd.server_close()


def _embedder(url: str) -> OpenAIEmbedder:
    return OpenAIEmbedder(OpenAIEmbedderOptions(base_url=url, model="m", timeout_s=TIMEOUT_S))


TEXTS = ["the heron nests by the old mill", "a recipe for quince jam with cloves",
         "the ferry timetable changed in March"]
ERRORS = {"500": "answered 500", "slow": "unreachable", "json": "invalid JSON", "dim": "changed the dimension",
          "nan": "NaN", "count": "vectors for"}


@pytest.mark.parametrize("mode", sorted(ERRORS))
def test_a_failing_endpoint_fails_jobs_for_good_and_a_retry_recovers_them(endpoint: str, db_target: Target,
                                                                          mode: str) -> None:
    path = db_target.db
    with Memory(path, embedder=_embedder(endpoint), worker=OPTIONS, close_timeout=5) as mem:
        [first] = mem.add("written while the endpoint was fine", user_id="u")
        assert mem.flush(timeout=10).remaining == 0  # the adapter now knows its dimension: 64

        _Endpoint.mode = mode
        records = [r for text in TEXTS for r in mem.add(text, user_id="u")]
        # (a report counts what flush saw happen: the thread may be quicker than it looks)
        assert mem.flush(timeout=20).remaining == 0
        # retried with backoff: a batch, then each job alone until its third attempt
        assert len(_Endpoint.calls) >= 1 + 1 + 3 * (OPTIONS.max_attempts - 1) - 2

        state = mem.status()
        assert (state.failed, state.pending) == (3, 0) and state.stages[0].failed == 3
        assert ERRORS[mode] in (state.stages[0].last_error or ""), state
        failed = mem.jobs(state="failed")
        assert sorted(j.memory_id for j in failed) == sorted(r.id for r in records)
        assert all(j.attempts == OPTIONS.max_attempts and ERRORS[mode] in (j.error or "") for j in failed), failed
        for rec in records:  # stored, not embedded, no garbage written
            assert mem.get(rec.id).content == rec.content
            assert stored_keys(path, rec.id, 64) == (None, None)
        np.testing.assert_allclose(stored_keys(path, first.id, 64)[0], expected_keys(first, REFERENCE), atol=1e-5)

        _Endpoint.mode = "ok"
        hit = mem.search("quince jam", user_id="u", k=1)
        assert hit.hits[0].record.id == records[1].id and hit.unembedded == 3
        assert mem.retry() == 3
        report = mem.flush(timeout=20)  # the thread may finish some before flush counts them
        assert report.done <= 3 and (report.failed, report.remaining) == (0, 0)
        assert job_rows(path) == []
        for rec in records:
            keys, model = stored_keys(path, rec.id, 64)
            assert model == "openai:m"
            np.testing.assert_allclose(keys, expected_keys(rec, REFERENCE), atol=1e-5)
        found = mem.search("quince jamm recipes", user_id="u", k=1)
        assert found.hits[0].record.id == records[1].id and found.unembedded == 0


def test_while_the_endpoint_is_down_writes_are_kept_and_search_answers_by_keywords(endpoint: str,
                                                                                  tmp_path: Path) -> None:
    with Memory(tmp_path / "down.db", embedder=_embedder(endpoint), worker=OPTIONS, close_timeout=0) as mem:
        mem.add("warm-up", user_id="u")
        mem.flush(timeout=10)
        _Endpoint.mode = "500"
        [rec] = mem.add("the spare key is under the blue flowerpot", user_id="u")  # acknowledged
        # no query vector: the keyword lists still answer, and the result says why it is keyword-only
        down = mem.search("flowerpot", user_id="u", k=1)
        assert down.hits[0].record.id == rec.id and set(down.hits[0].sources) <= {"bm25", "window"}
        assert any("answered 500" in w and "keyword-only" in w for w in down.warnings)
        assert [r.id for r in mem.list(user_id="u")][-1] == rec.id
        _Endpoint.mode = "ok"
        result = mem.search("flowerpot", user_id="u", k=1)  # its vectors may still be on their way
        assert result.hits[0].record.id == rec.id


def test_vectors_of_another_width_under_the_same_model_do_not_break_search(tmp_path: Path) -> None:
    path = tmp_path / "mixed.db"
    with Memory(path, embedder="hash:64", background=False) as mem:
        [good] = mem.add("the lighthouse keeper feeds the gulls", user_id="u")
        [odd] = mem.add("a row a misconfigured worker embedded", user_id="u")
    con = sqlite3.connect(path)  # what a worker whose endpoint answered 32-wide vectors stored
    con.execute("UPDATE memories SET embedding = ? WHERE id = ?", (np.ones(32, np.float32).tobytes(), odd.id))
    con.commit()
    con.close()
    with Memory(path, embedder="hash:64", background=False) as mem:
        hits = mem.search("lighthouse keepers", user_id="u", k=2).hits
        assert hits[0].record.id == good.id and "dense" in hits[0].sources
        assert all("dense" not in h.sources for h in hits if h.record.id == odd.id)


def _engram(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "import sys; from engramdb.cli.main import main; sys.argv[0] = 'engram'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_the_cli_shows_failed_jobs_and_retries_them(endpoint: str, db_target: Target) -> None:
    path = db_target.db
    with Memory(path, embedder=_embedder(endpoint), worker=OPTIONS, close_timeout=0) as mem:
        _Endpoint.mode = "500"
        records = [r for text in TEXTS for r in mem.add(text, user_id="u")]
        assert mem.flush(timeout=20).remaining == 0 and mem.status().failed == 3
    env = subprocess_env(ENGRAM_EMBEDDER_BASE_URL=endpoint, ENGRAM_EMBEDDER="openai:m")

    status = _engram("status", "--db", str(path), "--json", env=env)
    assert status.returncode == 0, status.stderr
    [line] = status.stdout.splitlines()
    data = json.loads(line)
    assert data["failed"] == 3 and data["pending"] == 0 and data["stages"][0]["failed"] == 3
    assert "answered 500" in data["stages"][0]["last_error"]

    listed = _engram("jobs", "--db", str(path), "--state", "failed", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    jobs = [json.loads(x) for x in listed.stdout.splitlines()]
    assert sorted(j["memory_id"] for j in jobs) == sorted(r.id for r in records)
    assert all(j["state"] == "failed" and "answered 500" in j["error"] for j in jobs)

    _Endpoint.mode = "ok"
    retried = _engram("jobs", "--db", str(path), "--retry", "--json", env=env)
    assert retried.returncode == 0 and json.loads(retried.stdout) == {"retried": 3}, retried
    # queued again, as it says, for flush or a worker to run
    assert [(r[3], r[4], r[5]) for r in job_rows(path)] == [("pending", 0, None)] * 3
    flushed = _engram("flush", "--db", str(path), "--json", env=env)
    assert flushed.returncode == 0, flushed.stderr
    assert json.loads(flushed.stdout)["done"] == 3
    assert job_rows(path) == []
    for rec in records:
        keys, model = stored_keys(path, rec.id, 64)
        assert model == "openai:m"
        np.testing.assert_allclose(keys, expected_keys(rec, REFERENCE), atol=1e-5)


def test_flush_exits_nonzero_while_the_endpoint_fails(endpoint: str, db_target: Target) -> None:
    path = db_target.db
    with Memory(path, embedder=_embedder(endpoint)) as mem:
        queue(mem.store, ["never embedded while the endpoint is down"])
    _Endpoint.mode = "500"
    env = subprocess_env(ENGRAM_EMBEDDER_BASE_URL=endpoint, ENGRAM_EMBEDDER="openai:m")
    # the default policy backs off 2 s after the first failure: the job is still queued at the timeout
    flushed = _engram("flush", "--db", str(path), "--timeout", "1", "--json", env=env)
    assert flushed.returncode == 1, flushed
    # the worker logs the failure; the command's own error is one line, the last
    assert flushed.stderr.strip().splitlines()[-1].startswith("engram: error: 1 jobs are still queued")
    assert [(r[3], r[4]) for r in job_rows(path)] == [("pending", 1)]
