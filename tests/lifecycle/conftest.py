"""Fixtures of the fact pipeline tests: a real Memory on a SQLite file or a PostgreSQL database
(hash embedder, facts on, no background thread: ``flush`` works) whose LLM stages talk to a
scripted chat server on loopback. The queue retries quickly (backoff 0.05 s, two attempts) and
the client does not retry by itself, so a failed call fails the job at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support.llm_server import ScriptedChatServer
from tests.support.probe import Target

from engramdb import Memory
from engramdb.llms.openai import OpenAIChat, OpenAIChatOptions
from engramdb.pipeline.worker import WorkerOptions

MemoryMaker = Callable[..., Memory]


@pytest.fixture()
def server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer() as srv:
        yield srv


def chat_client(url: str, **options: Any) -> OpenAIChat:
    values: dict[str, Any] = {"base_url": url, "model": "m", "api_key": "sk-test", "timeout_s": 5.0,
                              "max_attempts": 1}
    values.update(options)
    return OpenAIChat(OpenAIChatOptions(**values))


@pytest.fixture()
def make_memory(db_target: Target, server: ScriptedChatServer) -> Iterator[MemoryMaker]:
    opened: list[Memory] = []

    def make(llm: Any = None, **kwargs: Any) -> Memory:
        kwargs.setdefault("worker", WorkerOptions(backoff_s=0.05, max_attempts=2, threads=0))
        memory = Memory(db_target.db, embedder="hash:64", facts=True,
                        llm=chat_client(server.url) if llm is None else llm, close_timeout=0, **kwargs)
        opened.append(memory)
        return memory

    yield make
    for memory in opened:
        memory.close()
