"""A deterministic chat model for tests: canned responses, no network.

Responses come from a function of the prompt (``responder``), from a list
played in order, or both (the list first). Every call is recorded in
``calls`` so a test can check exactly what was asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from engramdb.core.errors import LLMError
from engramdb.core.ports import ChatMessage, Completion

Responder = Callable[[Sequence[ChatMessage]], str]


class ScriptedLLM:
    """Implements :class:`engramdb.core.ports.LLM`."""

    def __init__(self, responses: Iterable[str] = (), *, responder: Responder | None = None,
                 name: str = "scripted") -> None:
        self._queue = list(responses)
        self._responder = responder
        self._name = name
        self.calls: list[list[ChatMessage]] = []

    @property
    def model_id(self) -> str:
        return self._name

    def complete(self, messages: Sequence[ChatMessage], *, temperature: float = 0.0,
                 max_tokens: int | None = None, json_mode: bool = False) -> Completion:
        self.calls.append(list(messages))
        if self._queue:
            text = self._queue.pop(0)
        elif self._responder is not None:
            text = self._responder(messages)
        else:
            raise LLMError(f"scripted LLM {self._name!r} has no response left for call {len(self.calls)}")
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        return Completion(text, prompt_tokens, len(text.split()), 0.0)
