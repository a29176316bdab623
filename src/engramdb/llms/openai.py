"""Chat completions from any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp, LM Studio).

A deliberately small client on ``urllib``: one POST to ``{base_url}/chat/completions``.
Rate limits (429) and server errors (5xx) are retried a few times with
exponential backoff; everything else becomes an :class:`LLMError` at once.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from engramdb.core.errors import ConfigError, LLMError
from engramdb.core.ports import ChatMessage, Completion

ENV_KEYS = ("ENGRAM_LLM_API_KEY", "OPENAI_API_KEY")
_RETRIES = 3
_BACKOFF_S = 1.0

__all__ = ["LLMError", "OpenAIChat", "OpenAIChatOptions"]


class OpenAIChatOptions(BaseModel):
    """Options of the OpenAI-compatible chat client. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = "https://api.openai.com/v1"
    model: str
    api_key: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)

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
    """Implements :class:`engramdb.core.ports.LLM` over HTTP."""

    def __init__(self, options: OpenAIChatOptions, *, sleep: Any = time.sleep) -> None:
        self.options = options
        self._sleep = sleep

    @property
    def model_id(self) -> str:
        return f"openai:{self.options.model}"

    @property
    def url(self) -> str:
        return self.options.base_url.rstrip("/") + "/chat/completions"

    def complete(self, messages: Sequence[ChatMessage], *, temperature: float = 0.0,
                 max_tokens: int | None = None, json_mode: bool = False) -> Completion:
        body: dict[str, Any] = {"model": self.options.model, "messages": list(messages),
                                "temperature": temperature}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        t0 = time.perf_counter()
        payload = self._post(json.dumps(body).encode("utf-8"))
        latency = (time.perf_counter() - t0) * 1000
        return _completion(payload, self.url, latency)

    def _post(self, data: bytes) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.options.api_key:
            headers["Authorization"] = f"Bearer {self.options.api_key}"
        for attempt in range(_RETRIES + 1):
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.options.timeout_s) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:300]
                if (exc.code == 429 or exc.code >= 500) and attempt < _RETRIES:
                    self._sleep(_BACKOFF_S * 2 ** attempt)
                    continue
                raise LLMError(f"chat endpoint {self.url} answered {exc.code}: {detail}") from None
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                raise LLMError(f"chat endpoint {self.url} unreachable: {exc}") from None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise LLMError(f"chat endpoint {self.url} sent invalid JSON: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover


def _completion(payload: Any, url: str, latency_ms: float) -> Completion:
    try:
        text = payload["choices"][0]["message"]["content"]
        usage = payload.get("usage") or {}
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise LLMError(f"unexpected chat response from {url}: missing {exc}") from None
    if not isinstance(text, str):
        raise LLMError(f"chat endpoint {url} returned no text (content is {type(text).__name__})")
    return Completion(text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
                      latency_ms)
