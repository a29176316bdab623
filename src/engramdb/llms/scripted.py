"""A deterministic chat model for tests: canned responses, no network.

Responses come from a function of the prompt (``responder``), from a list
played in order, or both (the list first). Every call is recorded in
``calls`` so a test can check exactly what was asked. ``complete_json`` goes
through the same parsing, validation and repair round as the real client
(the schema is spelled out in the prompt, as for an endpoint without
structured output), so a stage tested on it meets the same rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from engramdb.core.errors import LLMError
from engramdb.core.ports import ChatMessage, Completion, JSONCompletion, JSONSchema, LLMUsage, StructuredMode
from engramdb.llms import structured
from engramdb.llms.usage import UsageMeter

Responder = Callable[[Sequence[ChatMessage]], str]


class ScriptedLLM:
    """Implements :class:`engramdb.core.ports.LLM`."""

    def __init__(self, responses: Iterable[str] = (), *, responder: Responder | None = None,
                 name: str = "scripted") -> None:
        self._queue = list(responses)
        self._responder = responder
        self._name = name
        self._meter = UsageMeter(lambda text: len(text.split()))
        self.calls: list[list[ChatMessage]] = []

    @property
    def model_id(self) -> str:
        return self._name

    def usage(self) -> LLMUsage:
        return self._meter.snapshot()

    def complete(self, messages: Sequence[ChatMessage], *, temperature: float | None = None,
                 max_tokens: int | None = None, json_mode: bool = False) -> Completion:
        t0 = time.perf_counter()
        self.calls.append(list(messages))
        if self._queue:
            text = self._queue.pop(0)
        elif self._responder is not None:
            text = self._responder(messages)
        else:
            self._meter.failed(time.perf_counter() - t0)
            raise LLMError(f"scripted LLM {self._name!r} has no response left for call {len(self.calls)}")
        return self._meter.answered(messages, Completion(text, finish_reason="stop"), time.perf_counter() - t0)

    def complete_json(self, messages: Sequence[ChatMessage], schema: JSONSchema, *, name: str,
                      temperature: float | None = None, max_tokens: int | None = None) -> JSONCompletion:
        def ask(convo: Sequence[ChatMessage]) -> tuple[Completion, StructuredMode]:
            return self.complete(structured.instructed(convo, schema, "none")), "none"

        return structured.complete_json(ask, messages, schema, name=name, meter=self._meter,
                                        who=f"scripted LLM {self._name!r}")
