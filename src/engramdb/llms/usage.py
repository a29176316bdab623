"""Thread-safe accounting of what a chat client spends (an LLMUsage accumulator)."""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Sequence

from engramdb.core.ports import ChatMessage, Completion, LLMUsage

TokenCounter = Callable[[str], int]

__all__ = ["TokenCounter", "UsageMeter", "rough_tokens"]


def rough_tokens(text: str) -> int:
    """About four characters a token: the estimate when no tokenizer is given."""
    return math.ceil(len(text) / 4)


class UsageMeter:
    """Accumulates one client's usage; ``snapshot()`` is an immutable LLMUsage.

    Token counts come from the endpoint's ``usage``; an answer without them is
    counted with ``count_tokens`` (the registry passes the project's cl100k counter)."""

    def __init__(self, count_tokens: TokenCounter | None = None) -> None:
        self._count = count_tokens or rough_tokens
        self._lock = threading.Lock()
        self._usage = LLMUsage()

    def snapshot(self) -> LLMUsage:
        with self._lock:
            return self._usage

    def answered(self, messages: Sequence[ChatMessage], completion: Completion, seconds: float) -> Completion:
        """Record one answered call; returns the completion with its token counts filled in."""
        estimated = not (completion.prompt_tokens or completion.completion_tokens)
        if estimated:
            completion = dataclasses.replace(
                completion,
                prompt_tokens=sum(self._count(m["content"]) for m in messages),
                completion_tokens=self._count(completion.text),
            )
        self._add(calls=1, prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
                  estimated=int(estimated), seconds=seconds)
        return completion

    def failed(self, seconds: float) -> None:
        self._add(calls=1, failures=1, seconds=seconds)

    def retried(self) -> None:
        self._add(retries=1)

    def repaired(self) -> None:
        self._add(repairs=1)

    def invalid(self) -> None:
        """An answered call whose content was unusable (the call itself was counted)."""
        self._add(failures=1)

    def _add(self, **deltas: float) -> None:
        with self._lock:
            current = dataclasses.asdict(self._usage)
            for key, delta in deltas.items():
                current[key] += delta
            self._usage = LLMUsage(**current)
