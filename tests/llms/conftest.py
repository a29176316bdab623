"""Fixtures of the LLM adapter tests: a scripted chat server on loopback and a client of it
whose backoff sleeps are recorded instead of slept (the jitter is fixed at its maximum)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support.llm_server import ScriptedChatServer

from engramdb.llms.openai import OpenAIChat, OpenAIChatOptions

ClientFactory = Callable[..., OpenAIChat]


@pytest.fixture()
def server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer() as srv:
        yield srv


@pytest.fixture()
def sleeps() -> list[float]:
    return []


@pytest.fixture()
def client(server: ScriptedChatServer, sleeps: list[float]) -> ClientFactory:
    def make(**options: Any) -> OpenAIChat:
        values: dict[str, Any] = {"base_url": server.url, "model": "m", "api_key": "sk-test", "timeout_s": 5.0}
        values.update(options)
        return OpenAIChat(OpenAIChatOptions(**values), sleep=sleeps.append, jitter=lambda: 1.0)

    return make
