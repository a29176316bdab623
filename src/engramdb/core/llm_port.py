"""The LLM port: chat completions and structured (JSON-schema) answers from any model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


# A JSON Schema (the subset llms/jsonschema_check.py validates: object, array, string, number,
# integer, boolean, null, enum, required, additionalProperties, items and simple bounds).
JSONSchema = dict[str, Any]
StructuredMode = Literal["json_schema", "json_object", "none"]


@dataclass(frozen=True, slots=True)
class Completion:
    """One answer of a chat model, with the usage the endpoint reported (0 when it did not).
    ``finish_reason`` is the endpoint's ("stop", "length": cut at max_tokens, ...) or None."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class JSONCompletion:
    """A structured answer: ``data`` is the parsed JSON, valid against the requested schema.

    ``completion`` is the answer it was parsed from (after the repair round when
    ``repaired``); ``mode`` is how the schema was enforced by the endpoint."""

    data: Any
    completion: Completion
    repaired: bool = False
    mode: StructuredMode = "json_schema"


@dataclass(frozen=True, slots=True)
class LLMUsage:
    """What a chat client has spent since it was made (a snapshot; all counters only grow).

    ``calls``: requests answered or failed for good (a complete_json repair round is a call of its
    own; retried attempts are not); ``retries``: extra attempts after a 429, 5xx, timeout or
    connection error; ``failures``: calls that ended in an error (a response_format refusal the
    client then stepped down from included) and complete_json answers still invalid after the
    repair; ``repairs``: complete_json repair
    rounds; tokens: as the endpoint reported them, else estimated (``estimated`` calls);
    ``seconds``: wall time inside calls, backoff included."""

    calls: int = 0
    retries: int = 0
    failures: int = 0
    repairs: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: int = 0
    seconds: float = 0.0


class LLM(Protocol):
    """A chat model: messages in, one completion out. Every failure is an LLMError."""

    @property
    def model_id(self) -> str: ...

    def complete(self, messages: Sequence[ChatMessage], *, temperature: float | None = None,
                 max_tokens: int | None = None, json_mode: bool = False) -> Completion:
        """Free text. ``temperature``/``max_tokens``: None takes the client's defaults.
        ``json_mode`` asks the model for a JSON object (OpenAI ``response_format``)."""
        ...

    def complete_json(self, messages: Sequence[ChatMessage], schema: JSONSchema, *, name: str,
                      temperature: float | None = None, max_tokens: int | None = None) -> JSONCompletion:
        """One JSON value valid against ``schema`` (``name``: a short identifier of the schema,
        ``^[a-zA-Z0-9_-]{1,64}$``, sent to endpoints that want one).

        The endpoint is asked to enforce the schema (OpenAI structured outputs, a llama.cpp
        grammar) when it can; the answer is then parsed strictly and validated here anyway. An
        invalid answer gets one repair round (the model sees its answer and the error); a second
        invalid answer is an LLMError quoting a short excerpt. A schema using keywords the
        validator does not know is a ConfigError, raised before anything is sent."""
        ...

    def usage(self) -> LLMUsage:
        """Calls, retries, failures, tokens and seconds spent so far by this client."""
        ...
