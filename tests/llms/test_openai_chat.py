"""The OpenAI-compatible chat client against a real scripted HTTP server on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from tests.support.llm_server import Reply, ScriptedChatServer, chat, error

from engramdb import registry
from engramdb.core.errors import ConfigError, LLMError
from engramdb.core.ports import LLM, ChatMessage
from engramdb.llms.http import LLMHTTPError
from engramdb.llms.openai import OpenAIChat, OpenAIChatOptions

ClientFactory = Callable[..., OpenAIChat]  # the ``client`` fixture (conftest.py)

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
ASK: list[ChatMessage] = [{"role": "system", "content": "You answer in JSON."},
                          {"role": "user", "content": "Who is Ana?"}]
VALID = '{"name": "Ana", "age": 31}'


def test_structured_request_shape_and_valid_answer(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(chat(VALID))
    llm = client(max_tokens=50)
    out = llm.complete_json(ASK, SCHEMA, name="person")
    assert out.data == {"name": "Ana", "age": 31} and not out.repaired and out.mode == "json_schema"
    [req] = server.requests
    assert req.path == "/v1/chat/completions" and req.headers["Authorization"] == "Bearer sk-test"
    assert req.body["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA, "strict": True}}
    assert req.body["messages"] == ASK  # the endpoint enforces the schema: the prompt is left alone
    assert req.body["temperature"] == 0.0 and req.body["max_tokens"] == 50 and req.body["model"] == "m"


def test_invalid_json_is_repaired_once(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(chat('{"name": "Ana", "age": '), chat(VALID))
    llm = client()
    out = llm.complete_json(ASK, SCHEMA, name="person")
    assert out.data["age"] == 31 and out.repaired
    repair = server.bodies[1]["messages"]
    assert repair[:2] == ASK
    assert repair[2] == {"role": "assistant", "content": '{"name": "Ana", "age": '}
    assert repair[3]["role"] == "user" and "not valid JSON" in repair[3]["content"]
    assert llm.usage().repairs == 1 and llm.usage().calls == 2 and llm.usage().failures == 0


def test_invalid_twice_is_an_llm_error_with_an_excerpt(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(chat("Sure! Ana is 31."), chat("I said: Ana is thirty-one " + "x" * 400))
    llm = client()
    with pytest.raises(LLMError, match=r"no valid 'person' JSON after one repair.*I said: Ana is thirty-one") as info:
        llm.complete_json(ASK, SCHEMA, name="person")
    assert len(str(info.value)) < 600 and "…" in str(info.value)
    assert len(server.requests) == 2
    assert llm.usage().failures == 1 and llm.usage().calls == 2


def test_wrong_schema_is_repaired_with_the_violation(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(chat('{"name": "Ana", "age": "31", "city": "Porto"}'), chat(VALID))
    out = client().complete_json(ASK, SCHEMA, name="person")
    assert out.repaired and out.data == {"name": "Ana", "age": 31}
    assert "$.age: expected integer, got string" in server.bodies[1]["messages"][-1]["content"]


def test_wrong_schema_twice_fails(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(chat('{"name": "Ana"}'), chat('{"name": "Ana", "age": 31, "city": "Porto"}'))
    with pytest.raises(LLMError, match="unexpected property 'city'"):
        client().complete_json(ASK, SCHEMA, name="person")


def test_truncated_output_is_named_as_such(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(chat('{"name": "An', finish_reason="length"), chat('{"name": "Ana", "a', finish_reason="length"))
    with pytest.raises(LLMError, match="cut at max_tokens"):
        client(max_tokens=5).complete_json(ASK, SCHEMA, name="person")


def test_a_code_fence_is_tolerated_but_prose_is_not(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(chat(f"```json\n{VALID}\n```"), chat(f"Here you go: {VALID}"), chat("NaN"))
    llm = client()
    assert llm.complete_json(ASK, {"type": "object"}, name="p").data["name"] == "Ana"
    with pytest.raises(LLMError, match="not valid JSON"):
        llm.complete_json(ASK, {"type": "number"}, name="p")


def test_server_error_is_retried_with_backoff(server: ScriptedChatServer, client: ClientFactory,
                                              sleeps: list[float]) -> None:
    server.script(error(500, "boom"), error(503, "busy"), chat(VALID))
    llm = client(backoff_s=0.5)
    assert llm.complete_json(ASK, SCHEMA, name="person").data["name"] == "Ana"
    assert sleeps == [0.5, 1.0]  # exponential (jitter fixed at its top)
    usage = llm.usage()
    assert (usage.calls, usage.retries, usage.failures) == (1, 2, 0)


def test_backoff_really_waits_with_jitter(server: ScriptedChatServer) -> None:
    server.script(error(502, "bad gateway"), chat("ok"))
    llm = OpenAIChat(OpenAIChatOptions(base_url=server.url, model="m", backoff_s=0.2))
    t0 = time.perf_counter()
    assert llm.complete([{"role": "user", "content": "hi"}]).text == "ok"
    assert 0.1 <= time.perf_counter() - t0 < 2.0  # 0.2 s step, jitter takes it down to half at most


def test_server_error_forever_gives_up_after_max_attempts(server: ScriptedChatServer, client: ClientFactory,
                                                          sleeps: list[float]) -> None:
    server.script(*[error(500, "model crashed")] * 3)
    llm = client(max_attempts=3, backoff_s=1)
    expected = r"/v1/chat/completions answered 500: model crashed \(gave up after 3"
    with pytest.raises(LLMHTTPError, match=expected) as info:
        llm.complete([{"role": "user", "content": "hi"}])
    assert info.value.status == 500 and server.url in str(info.value)
    assert len(server.requests) == 3 and sleeps == [1, 2]
    assert llm.usage().failures == 1 and llm.usage().retries == 2


def test_client_errors_are_not_retried(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(error(401, "bad key"))
    with pytest.raises(LLMError, match="answered 401: bad key"):
        client().complete([{"role": "user", "content": "hi"}])
    assert len(server.requests) == 1


def test_rate_limit_is_retried_honouring_retry_after(server: ScriptedChatServer, client: ClientFactory,
                                                     sleeps: list[float]) -> None:
    server.script(error(429, "slow down", headers={"Retry-After": "3"}), chat("ok"))
    assert client(backoff_s=0.1).complete([{"role": "user", "content": "hi"}]).text == "ok"
    assert sleeps == [3.0] and len(server.requests) == 2


def test_timeout_is_an_llm_error_after_retries(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(chat("late", delay_s=1.0), chat("late again", delay_s=1.0))
    llm = client(timeout_s=0.2, max_attempts=2)
    t0 = time.perf_counter()
    expected = r"chat endpoint http://127\.0\.0\.1:\d+/v1/chat/completions timed out after 0\.2s"
    with pytest.raises(LLMError, match=expected):
        llm.complete([{"role": "user", "content": "hi"}])
    assert time.perf_counter() - t0 < 1.5
    assert len(server.requests) == 2 and llm.usage().failures == 1


def test_unreachable_endpoint_is_an_llm_error() -> None:
    with ScriptedChatServer() as gone:
        url = gone.url
    llm = OpenAIChat(OpenAIChatOptions(base_url=url, model="m", max_attempts=2, backoff_s=0))
    with pytest.raises(LLMError, match=r"unreachable.*gave up after 2"):
        llm.complete([{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("payload", [b"<html>gateway</html>", b'{"choices": []}', b'{"choices": [{"message": {}}]}'])
def test_a_body_that_is_no_chat_answer_is_an_llm_error(server: ScriptedChatServer, client: ClientFactory,
                                                       payload: bytes) -> None:
    server.script(Reply(raw=payload))
    with pytest.raises(LLMError, match=server.url):
        client().complete([{"role": "user", "content": "hi"}])


def test_unsupported_response_format_steps_down_once(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(error(400, "response_format json_schema is not supported"), chat(VALID), chat(VALID))
    llm = client()
    out = llm.complete_json(ASK, SCHEMA, name="person")
    assert out.data["age"] == 31 and out.mode == "json_object" and llm.structured_mode == "json_object"
    first, second = server.bodies[:2]
    assert first["response_format"]["type"] == "json_schema"
    assert second["response_format"] == {"type": "json_object"}
    system = second["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("You answer in JSON.")
    assert json.dumps(SCHEMA, separators=(",", ":")) in system["content"]  # the schema, now in the prompt
    llm.complete_json(ASK, SCHEMA, name="person")  # later calls start from the weaker mode
    assert server.bodies[2]["response_format"] == {"type": "json_object"} and len(server.requests) == 3


def test_no_response_format_at_all_falls_back_to_none(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(error(400, "Unknown field: response_format"), chat(VALID))
    out = client(structured="json_object").complete_json([{"role": "user", "content": "Ana?"}], SCHEMA, name="p")
    assert out.mode == "none" and "response_format" not in server.bodies[1]
    assert server.bodies[1]["messages"][0]["role"] == "system"  # the schema instruction comes first


def test_a_bad_schema_is_not_routed_around(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(error(400, "Invalid schema for response_format 'p': 'required' is missing"))
    llm = client()
    with pytest.raises(LLMError, match="answered 400"):
        llm.complete_json(ASK, SCHEMA, name="p")
    assert llm.structured_mode == "json_schema"


def test_schema_and_name_outside_the_subset_are_refused_before_sending(server: ScriptedChatServer,
                                                                       client: ClientFactory) -> None:
    with pytest.raises(ConfigError, match="unsupported keyword"):
        client().complete_json(ASK, {"type": "string", "pattern": "^a"}, name="p")
    with pytest.raises(ConfigError, match="schema name"):
        client().complete_json(ASK, SCHEMA, name="no spaces")
    assert server.requests == []


def test_usage_reported_and_estimated(server: ScriptedChatServer, sleeps: list[float]) -> None:
    server.script(chat("hello", prompt_tokens=20, completion_tokens=3), error(503, "x"),
                  chat("a b c d", prompt_tokens=None, completion_tokens=None))
    llm = OpenAIChat(OpenAIChatOptions(base_url=server.url, model="m"), sleep=sleeps.append,
                     count_tokens=lambda text: len(text.split()))
    first = llm.complete([{"role": "user", "content": "hi"}])
    second = llm.complete([{"role": "user", "content": "one two three"}])
    assert (first.prompt_tokens, first.completion_tokens, first.finish_reason) == (20, 3, "stop")
    assert (second.prompt_tokens, second.completion_tokens) == (3, 4)  # estimated with count_tokens
    usage = llm.usage()
    assert (usage.calls, usage.retries, usage.failures, usage.estimated) == (2, 1, 0, 1)
    assert (usage.prompt_tokens, usage.completion_tokens) == (23, 7)
    assert usage.seconds > 0 and first.latency_ms > 0


def test_json_mode_and_option_defaults(server: ScriptedChatServer, client: ClientFactory) -> None:
    server.script(chat("{}"), chat("{}"))
    llm = client(temperature=0.7, max_tokens=9)
    llm.complete([{"role": "user", "content": "JSON please"}], json_mode=True)
    llm.complete([{"role": "user", "content": "JSON please"}], temperature=0.1, max_tokens=3)
    a, b = server.bodies
    assert a["response_format"] == {"type": "json_object"} and (a["temperature"], a["max_tokens"]) == (0.7, 9)
    assert "response_format" not in b and (b["temperature"], b["max_tokens"]) == (0.1, 3)


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="invalid LLM options"):
        OpenAIChatOptions.build(model="m", structured="grammar")
    with pytest.raises(ConfigError):
        OpenAIChatOptions.build(model="m", retries=3)  # unknown keys are rejected
    with pytest.raises(ConfigError):
        OpenAIChatOptions.build(model="m", max_attempts=0)


def test_open_llm_from_the_environment(server: ScriptedChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENGRAM_LLM", raising=False)
    assert registry.open_llm() is None  # no LLM configured: engramdb works without one
    monkeypatch.setenv("ENGRAM_LLM", "openai:tiny")
    monkeypatch.setenv("ENGRAM_LLM_BASE_URL", server.url)
    monkeypatch.setenv("ENGRAM_LLM_API_KEY", "sk-env")
    llm = registry.open_llm()
    assert isinstance(llm, OpenAIChat) and llm.model_id == "openai:tiny"
    port: LLM = llm
    server.script(chat("ok", prompt_tokens=None, completion_tokens=None))
    assert port.complete([{"role": "user", "content": "hello there"}]).completion_tokens == 1  # cl100k count
    assert server.requests[0].headers["Authorization"] == "Bearer sk-env"
    with pytest.raises(ConfigError, match="unknown LLM"):
        registry.open_llm("ollama:llama3")
