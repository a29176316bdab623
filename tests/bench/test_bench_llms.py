"""The OpenAI-compatible chat client against a real HTTP server on loopback, and the scripted LLM."""

from __future__ import annotations

from typing import Any

import pytest

from engramdb.core.errors import ConfigError, EngramError, LLMError
from engramdb.llms.openai import OpenAIChat, OpenAIChatOptions
from engramdb.llms.scripted import ScriptedLLM


def _ok(text: str) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3}}


def test_chat_completion(server: tuple[Any, str]) -> None:
    state, url = server
    state.replies.append((200, _ok('{"label": "CORRECT"}')))
    llm = OpenAIChat(OpenAIChatOptions.build(base_url=url, model="m1", api_key="k"))
    got = llm.complete([{"role": "user", "content": "hi"}], max_tokens=5, json_mode=True)
    assert got.text == '{"label": "CORRECT"}' and (got.prompt_tokens, got.completion_tokens) == (11, 3)
    assert state.requests[0] == {"model": "m1", "messages": [{"role": "user", "content": "hi"}],
                                 "temperature": 0.0, "max_tokens": 5, "response_format": {"type": "json_object"}}
    assert state.headers[0]["Authorization"] == "Bearer k"
    assert llm.model_id == "openai:m1"


def test_retries_server_errors_then_fails_cleanly(server: tuple[Any, str]) -> None:
    state, url = server
    slept: list[float] = []
    llm = OpenAIChat(OpenAIChatOptions.build(base_url=url, model="m", api_key="k"), sleep=slept.append,
                     jitter=lambda: 1.0)  # the longest wait of each step: backoff_s * 2**n
    state.replies += [(503, "busy"), (429, "slow down"), (200, _ok("fine"))]
    assert llm.complete([{"role": "user", "content": "x"}]).text == "fine"
    assert slept == [1.0, 2.0]
    state.replies += [(401, '{"error": "bad key"}')]
    with pytest.raises(LLMError, match="401"):
        llm.complete([{"role": "user", "content": "x"}])
    state.replies += [(200, "not json")]
    with pytest.raises(LLMError, match="not JSON"):
        llm.complete([{"role": "user", "content": "x"}])
    state.replies += [(200, {"choices": []})]
    with pytest.raises(EngramError, match="unexpected chat response"):
        llm.complete([{"role": "user", "content": "x"}])


def test_unreachable_and_bad_options() -> None:
    llm = OpenAIChat(OpenAIChatOptions.build(base_url="http://127.0.0.1:9/v1", model="m", api_key="k",
                                             timeout_s=2, max_attempts=1))
    with pytest.raises(LLMError, match="unreachable"):
        llm.complete([{"role": "user", "content": "x"}])
    with pytest.raises(ConfigError):
        OpenAIChatOptions.build(model="m", temprature=0.3)  # unknown option
    with pytest.raises(ConfigError):
        OpenAIChatOptions.build(model="m", timeout_s=0)


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENGRAM_LLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "from-openai")
    assert OpenAIChatOptions.build(model="m").api_key == "from-openai"
    monkeypatch.setenv("ENGRAM_LLM_API_KEY", "from-engram")
    assert OpenAIChatOptions.build(model="m").api_key == "from-engram"
    assert OpenAIChatOptions.build(model="m", api_key="explicit").api_key == "explicit"


def test_scripted_llm() -> None:
    llm = ScriptedLLM(["one", "two"], responder=lambda msgs: msgs[-1]["content"].upper())
    assert [llm.complete([{"role": "user", "content": "x"}]).text for _ in range(3)] == ["one", "two", "X"]
    assert len(llm.calls) == 3
    exhausted = ScriptedLLM(["only"])
    exhausted.complete([{"role": "user", "content": "a"}])
    with pytest.raises(LLMError, match="no response left"):
        exhausted.complete([{"role": "user", "content": "b"}])
