"""Chat completions from any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp, LM Studio).

A small client on ``urllib``: one POST to ``{base_url}/chat/completions`` per
call, with timeouts and bounded retries (llms/http.py), structured answers
validated against a JSON schema with one repair round (llms/structured.py),
and every call's tokens and time accounted (``usage()``).

Structured output is asked for in the strongest form the endpoint takes:
``json_schema`` (OpenAI structured outputs; llama.cpp turns it into a
grammar), else ``json_object``, else nothing (the schema is then spelled out
in the prompt). An endpoint that answers 400 about ``response_format`` moves
the client one step down, once and for all its later calls.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from engramdb.core.errors import ConfigError, LLMError
from engramdb.core.ports import ChatMessage, Completion, JSONCompletion, JSONSchema, LLMUsage, StructuredMode
from engramdb.llms import structured
from engramdb.llms.http import LLMHTTPError, Retrying, post_json
from engramdb.llms.usage import TokenCounter, UsageMeter

ENV_KEYS = ("ENGRAM_LLM_API_KEY", "OPENAI_API_KEY")
_WEAKER: dict[StructuredMode, StructuredMode] = {"json_schema": "json_object", "json_object": "none"}
_REFUSAL_WORDS = ("response_format", "response format", "json_schema", "json_object")

log = logging.getLogger(__name__)

__all__ = ["LLMError", "OpenAIChat", "OpenAIChatOptions"]


class OpenAIChatOptions(BaseModel):
    """Options of the OpenAI-compatible chat client. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = "https://api.openai.com/v1"
    model: str = Field(min_length=1)
    api_key: str | None = None
    #: seconds to connect, and between bytes of the answer (urllib's socket timeout)
    timeout_s: float = Field(default=60.0, gt=0)
    #: attempts per call in all, the first included (429, 5xx, timeouts, connection errors)
    max_attempts: int = Field(default=4, ge=1, le=20)
    #: first backoff step; doubles per retry, capped at 30 s, with jitter
    backoff_s: float = Field(default=1.0, ge=0)
    structured: StructuredMode = "json_schema"
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)

    @classmethod
    def build(cls, **values: Any) -> OpenAIChatOptions:
        """Validated options; the key defaults to $ENGRAM_LLM_API_KEY, then $OPENAI_API_KEY."""
        if values.get("api_key") is None:
            values["api_key"] = next((os.environ[k] for k in ENV_KEYS if os.environ.get(k)), None)
        try:
            return cls.model_validate(values)
        except PydanticError as exc:
            raise ConfigError(f"invalid LLM options: {exc}") from None


class OpenAIChat:
    """Implements :class:`engramdb.core.ports.LLM` over HTTP. Safe to share between threads.

    ``count_tokens`` estimates usage when the endpoint reports none (the registry passes the
    project's counter; default: about four characters a token). ``sleep`` and ``jitter`` are
    the backoff's clock and randomness."""

    def __init__(self, options: OpenAIChatOptions, *, count_tokens: TokenCounter | None = None,
                 sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random) -> None:
        self.options = options
        self._meter = UsageMeter(count_tokens)
        self._retrying = Retrying(max_attempts=options.max_attempts, backoff_s=options.backoff_s, sleep=sleep,
                                  jitter=jitter, on_retry=self._meter.retried)
        self._mode: StructuredMode = options.structured
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return f"openai:{self.options.model}"

    @property
    def url(self) -> str:
        return self.options.base_url.rstrip("/") + "/chat/completions"

    @property
    def structured_mode(self) -> StructuredMode:
        """How structured output is asked for now (the option, or weaker after a refusal)."""
        return self._mode

    def usage(self) -> LLMUsage:
        return self._meter.snapshot()

    def complete(self, messages: Sequence[ChatMessage], *, temperature: float | None = None,
                 max_tokens: int | None = None, json_mode: bool = False) -> Completion:
        if not json_mode:
            return self._call(messages, temperature, max_tokens, None)

        def as_object(mode: StructuredMode) -> tuple[Sequence[ChatMessage], dict[str, Any] | None]:
            return messages, ({"type": "json_object"} if mode != "none" else None)

        return self._negotiated(as_object, temperature, max_tokens)[0]

    def complete_json(self, messages: Sequence[ChatMessage], schema: JSONSchema, *, name: str,
                      temperature: float | None = None, max_tokens: int | None = None) -> JSONCompletion:
        def ask(convo: Sequence[ChatMessage]) -> tuple[Completion, StructuredMode]:
            def shaped(mode: StructuredMode) -> tuple[Sequence[ChatMessage], dict[str, Any] | None]:
                return structured.instructed(convo, schema, mode), structured.response_format(mode, schema, name)

            return self._negotiated(shaped, temperature, max_tokens)

        return structured.complete_json(ask, messages, schema, name=name, meter=self._meter,
                                        who=f"{self.model_id} at {self.url}")

    def _negotiated(self, shape: Callable[[StructuredMode], tuple[Sequence[ChatMessage], dict[str, Any] | None]],
                    temperature: float | None, max_tokens: int | None) -> tuple[Completion, StructuredMode]:
        """One call in the current structured mode, stepping down while the endpoint refuses it."""
        while True:
            mode = self._mode
            convo, fmt = shape(mode)
            try:
                return self._call(convo, temperature, max_tokens, fmt), mode
            except LLMHTTPError as exc:
                if fmt is None or not _refuses_format(exc):
                    raise
                self._step_down(mode, exc)

    def _step_down(self, mode: StructuredMode, exc: LLMHTTPError) -> None:
        with self._lock:
            if self._mode == mode and mode in _WEAKER:
                self._mode = _WEAKER[mode]
                log.warning("%s refuses response_format %s (%s); using %s from now on",
                            self.url, mode, exc.detail[:120], self._mode)

    def _call(self, messages: Sequence[ChatMessage], temperature: float | None, max_tokens: int | None,
              fmt: dict[str, Any] | None) -> Completion:
        body: dict[str, Any] = {
            "model": self.options.model, "messages": list(messages),
            "temperature": self.options.temperature if temperature is None else temperature,
        }
        limit = self.options.max_tokens if max_tokens is None else max_tokens
        if limit is not None:
            body["max_tokens"] = limit
        if fmt is not None:
            body["response_format"] = fmt
        headers = {"Authorization": f"Bearer {self.options.api_key}"} if self.options.api_key else {}
        t0 = time.perf_counter()
        try:
            payload = post_json(self.url, body, headers=headers, timeout_s=self.options.timeout_s,
                                retrying=self._retrying)
            completion = _completion(payload, self.url, (time.perf_counter() - t0) * 1000)
        except LLMError:
            self._meter.failed(time.perf_counter() - t0)
            raise
        return self._meter.answered(messages, completion, time.perf_counter() - t0)


def _refuses_format(exc: LLMHTTPError) -> bool:
    detail = exc.detail.lower()
    if "invalid schema" in detail:  # OpenAI rejecting the schema itself: a bug to show, not to route around
        return False
    return exc.status in (400, 422) and any(word in detail for word in _REFUSAL_WORDS)


def _completion(payload: Any, url: str, latency_ms: float) -> Completion:
    try:
        choice = payload["choices"][0]
        text = choice["message"]["content"]
        usage = payload.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise LLMError(f"unexpected chat response from {url}: missing or bad {exc}") from None
    if not isinstance(text, str):
        raise LLMError(f"chat endpoint {url} returned no text (content is {type(text).__name__})")
    reason = choice.get("finish_reason")
    return Completion(text, prompt_tokens, completion_tokens, latency_ms,
                      reason if isinstance(reason, str) else None)
