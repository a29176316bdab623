"""The chat-LLM port and its error.

It lives here until ``core/ports.py`` grows an LLM port; it speaks only plain
types so moving it there is a rename.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypedDict

from engramdb.core.errors import EngramError


class LLMError(EngramError):
    """The language model endpoint failed, refused, or answered something unusable."""

    code = "llm_error"


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Completion:
    """One answer of a chat model, with the usage the endpoint reported (0 when it did not)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0


class LLM(Protocol):
    """A chat model: messages in, one completion out."""

    @property
    def model_id(self) -> str: ...

    def complete(self, messages: Sequence[ChatMessage], *, temperature: float = 0.0,
                 max_tokens: int | None = None, json_mode: bool = False) -> Completion:
        """``json_mode`` asks the model for a JSON object (OpenAI ``response_format``)."""
        ...
