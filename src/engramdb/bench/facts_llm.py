"""``engram bench facts-llm``: what facts with an LLM cost, in calls and tokens per 100 turns.

Counts, not quality: the first N turns of a LoCoMo file go into a temporary Memory whose
extract and reconcile stages talk to a stub OpenAI-compatible server on loopback (real HTTP,
the real client, the real stages and queue). The stub answers schema-valid JSON and reports
usage as an endpoint would: tokens of the messages' text (the project's cl100k counter) plus
OpenAI's per-message overhead, tokens of its answer. Two stubs bound the real cost:
``empty`` finds no fact (extraction calls only) and ``simple`` finds one fact per turn that
a user says, every one of which is then reconciled against its candidates (when any).
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from engramdb.engine.ingest import Batch
from engramdb.engine.memory import Memory
from engramdb.formats.detect import parse_file
from engramdb.llms.openai import OpenAIChat, OpenAIChatOptions
from engramdb.pipeline.worker import WorkerOptions
from engramdb.retrieval.tokens import count_tokens

Responder = Callable[[str, dict[str, Any]], Any]  # (schema name, request payload) -> answer JSON
PER_MESSAGE = 4  # OpenAI's chat format: tokens around each message, plus 3 priming the reply

_ADD = {"decision": "ADD", "target_id": None, "statement": None, "reason": "nothing like it stored"}


def empty_facts(name: str, payload: dict[str, Any]) -> Any:
    return {"facts": []} if name == "extract_facts" else _ADD


def simple_facts(name: str, payload: dict[str, Any]) -> Any:
    """One fact per turn of a user (the role LoCoMo gives its first speaker), then ADD."""
    if name != "extract_facts":
        return _ADD
    facts = []
    for turn in payload.get("turns", []):
        if turn.get("role") not in (None, "user", "human"):
            continue
        who = turn.get("speaker") or "user"
        words = str(turn.get("text", "")).split()
        facts.append({"subject": who, "attribute": "mentioned", "value": " ".join(words[:6]),
                      "statement": f"{who} mentioned: {' '.join(words[:16])}", "source_turn_ids": [turn["id"]],
                      "event_time": None})
    return {"facts": facts}


RESPONDERS: dict[str, Responder] = {"empty": empty_facts, "simple": simple_facts}


@dataclass
class Tally:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class StubChatServer:
    """An OpenAI-compatible ``/v1/chat/completions`` on loopback answering with ``responder``;
    it tallies calls and tokens per schema name (``response_format.json_schema.name``)."""

    responder: Responder
    tallies: dict[str, Tally] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> StubChatServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        fmt = body.get("response_format") or {}
        name = str((fmt.get("json_schema") or {}).get("name") or "text")
        messages = body.get("messages") or []
        try:
            payload = json.loads(messages[-1]["content"])
        except (json.JSONDecodeError, LookupError, TypeError):
            payload = {}
        content = json.dumps(self.responder(name, payload if isinstance(payload, dict) else {}))
        prompt = sum(count_tokens(str(m.get("content", ""))) + PER_MESSAGE for m in messages) + 3
        completion = count_tokens(content)
        with self._lock:
            tally = self.tallies.setdefault(name, Tally())
            tally.calls += 1
            tally.prompt_tokens += prompt
            tally.completion_tokens += completion
        return {"id": "stub", "object": "chat.completion", "model": body.get("model", "stub"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                data = json.dumps(server.answer(body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def first_turns(path: Path, turns: int) -> list[Batch]:
    """The file's first ``turns`` turns, in its batches (sessions), the last one cut short."""
    out: list[Batch] = []
    left = turns
    for batch in parse_file(path).batches:
        if left <= 0:
            break
        messages = list(batch.messages)[:left]
        out.append(Batch(messages, batch.user_id, batch.agent_id, batch.session_id, batch.metadata))
        left -= len(messages)
    return out


def run_facts_llm(path: Path, *, turns: int = 100, stub: str = "simple", batch: int = 64) -> dict[str, Any]:
    """Import ``turns`` turns with facts on and an LLM at a stub; what the stages asked it."""
    batches = first_turns(path, turns)
    n_turns = sum(len(b.messages) for b in batches)
    with StubChatServer(RESPONDERS[stub]) as server, tempfile.TemporaryDirectory() as tmp:
        llm = OpenAIChat(OpenAIChatOptions.build(base_url=server.url, model="stub", api_key="-", max_attempts=1),
                         count_tokens=count_tokens)
        started = time.perf_counter()
        with Memory(Path(tmp) / "facts.db", embedder="hash:64", facts=True, llm=llm,
                    worker=WorkerOptions(threads=0, batch=batch)) as memory:
            memory.add_many(batches)
            report = memory.flush(timeout=600)
            users = {b.user_id for b in batches}
            facts = sum(len(memory.list(user_id=u, kinds=["fact"], limit=100_000)) for u in users)
        seconds = time.perf_counter() - started
        usage = llm.usage()
    per = 100 / n_turns if n_turns else 0.0
    return {
        "file": str(path), "turns": n_turns, "sessions": len(batches), "stub": stub, "batch": batch,
        "facts": facts, "failed_jobs": report.failed, "seconds": round(seconds, 2),
        "calls": usage.calls, "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        "per_100_turns": {"calls": round(usage.calls * per, 1), "prompt_tokens": round(usage.prompt_tokens * per),
                          "completion_tokens": round(usage.completion_tokens * per)},
        "by_stage": {name: asdict(t) for name, t in sorted(server.tallies.items())},
        "usage": asdict(usage),
    }
