"""One JSON POST with timeouts and bounded retries, every failure an LLMError.

Retried: 429, 5xx, timeouts and connection errors, up to ``max_attempts``
attempts in all, waiting ``backoff_s * 2**n`` (capped, with jitter; a 429's
``Retry-After`` is honoured up to the cap) between them. Any other status is
final at once. No urllib or socket exception leaves this module.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engramdb.core.errors import LLMError

__all__ = ["LLMHTTPError", "Retrying", "post_json"]

MAX_BACKOFF_S = 30.0


class LLMHTTPError(LLMError):
    """The endpoint answered with an error status (after any retries)."""

    def __init__(self, message: str, *, url: str, status: int, detail: str) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Retrying:
    """How one request is retried, and what it does meanwhile (injectable for tests)."""

    max_attempts: int = 4
    backoff_s: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    on_retry: Callable[[], None] = field(default=lambda: None)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): half to all of the
        exponential step, so clients that failed together do not come back together."""
        step = min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1))
        wait: float = step * (0.5 + 0.5 * self.jitter())
        if retry_after is not None:
            wait = max(wait, min(MAX_BACKOFF_S, retry_after))
        return wait


class _Transient(Exception):
    def __init__(self, what: str, status: int | None = None, detail: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


def post_json(url: str, body: Mapping[str, Any], *, headers: Mapping[str, str], timeout_s: float,
              retrying: Retrying) -> Any:
    """POST ``body`` as JSON and return the decoded JSON answer."""
    data = json.dumps(body).encode("utf-8")
    for attempt in range(1, retrying.max_attempts + 1):
        try:
            return _post_once(url, data, headers, timeout_s)
        except _Transient as exc:
            if attempt >= retrying.max_attempts:
                message = f"chat endpoint {url} {exc.what} (gave up after {attempt} attempt(s))"
                if exc.status is not None:
                    raise LLMHTTPError(message, url=url, status=exc.status, detail=exc.detail) from None
                raise LLMError(message) from None
            retrying.on_retry()
            retrying.sleep(retrying.delay(attempt, exc.retry_after))
    raise AssertionError("unreachable")  # pragma: no cover - max_attempts >= 1


def _post_once(url: str, data: bytes, headers: Mapping[str, str], timeout_s: float) -> Any:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **headers},
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        detail = _detail(exc)
        if exc.code == 429 or exc.code >= 500:
            raise _Transient(f"answered {exc.code}: {detail}", exc.code, detail, _retry_after(exc)) from None
        raise LLMHTTPError(f"chat endpoint {url} answered {exc.code}: {detail}", url=url, status=exc.code,
                           detail=detail) from None
    except TimeoutError:
        raise _Transient(f"timed out after {timeout_s:g}s") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _Transient(f"timed out after {timeout_s:g}s") from None
        raise _Transient(f"unreachable: {exc.reason}") from None
    except (http.client.HTTPException, OSError) as exc:  # reset, refused, cut mid-body
        raise _Transient(f"unreachable: {type(exc).__name__}: {exc}") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LLMError(f"chat endpoint {url} sent a body that is not JSON ({exc}): {raw[:120]!r}") from None


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        text = ""
    try:
        payload = json.loads(text)
        error = payload.get("error", payload) if isinstance(payload, dict) else payload
        text = str(error.get("message", error)) if isinstance(error, dict) else str(error)
    except json.JSONDecodeError:
        pass
    return " ".join(text.split())[:300] or exc.reason or "no detail"


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: rare for APIs, and the exponential step is a fine stand-in
        return None
