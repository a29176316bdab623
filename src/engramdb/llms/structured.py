"""Structured answers, whatever the endpoint: ask, parse strictly, validate, repair once.

Shared by every LLM adapter so they agree on what a valid answer is. The
adapter supplies ``ask(messages) -> (completion, mode)``; ``mode`` says how the
endpoint enforced the schema, which decides whether the prompt must spell it out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from engramdb.core.errors import ConfigError, LLMError
from engramdb.core.ports import ChatMessage, Completion, JSONCompletion, JSONSchema, StructuredMode
from engramdb.llms.jsonschema_check import check_schema, first_violation
from engramdb.llms.usage import UsageMeter

__all__ = ["Ask", "complete_json", "instructed", "parse_answer", "response_format"]

Ask = Callable[[Sequence[ChatMessage]], tuple[Completion, StructuredMode]]

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n\s*```$", re.DOTALL)
EXCERPT_CHARS = 160

SCHEMA_INSTRUCTION = (
    "Answer with one JSON value and nothing else (no prose, no code fence). "
    "It must follow this JSON schema:\n{schema}"
)
REPAIR_REQUEST = (
    "That answer is not usable: {problem}. Reply again with only the corrected JSON, "
    "following this JSON schema:\n{schema}"
)


def response_format(mode: StructuredMode, schema: JSONSchema, name: str) -> dict[str, Any] | None:
    """The OpenAI ``response_format`` for a mode (None: send none)."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def instructed(messages: Sequence[ChatMessage], schema: JSONSchema, mode: StructuredMode) -> list[ChatMessage]:
    """The messages, with the schema spelled out in the system message unless the endpoint
    enforces it (``json_schema``). Chat templates want one system message, first."""
    out = list(messages)
    if mode == "json_schema":
        return out
    note = SCHEMA_INSTRUCTION.format(schema=_compact(schema))
    if out and out[0]["role"] == "system":
        out[0] = {"role": "system", "content": out[0]["content"].rstrip() + "\n\n" + note}
    else:
        out.insert(0, {"role": "system", "content": note})
    return out


def parse_answer(completion: Completion, schema: JSONSchema) -> tuple[Any, str | None]:
    """(value, None) for a valid answer, else (None, what is wrong). A single markdown code
    fence around the JSON is tolerated; anything else around it is not."""
    text = completion.text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        cut = " (the answer was cut at max_tokens)" if completion.finish_reason == "length" else ""
        return None, f"not valid JSON: {exc}{cut}"
    problem = first_violation(value, schema)
    return (value, None) if problem is None else (None, f"does not follow the schema: {problem}")


def complete_json(ask: Ask, messages: Sequence[ChatMessage], schema: JSONSchema, *, name: str,
                  meter: UsageMeter, who: str) -> JSONCompletion:
    """The LLM port's ``complete_json`` over an adapter's ``ask`` (see core.ports.LLM)."""
    if not _NAME.match(name):
        raise ConfigError(f"schema name {name!r} must match {_NAME.pattern}")
    check_schema(schema)
    first, mode = ask(messages)
    value, problem = parse_answer(first, schema)
    if problem is None:
        return JSONCompletion(value, first, repaired=False, mode=mode)
    meter.repaired()
    repair: list[ChatMessage] = [
        *messages,
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": REPAIR_REQUEST.format(problem=problem, schema=_compact(schema))},
    ]
    second, mode = ask(repair)
    value, problem = parse_answer(second, schema)
    if problem is None:
        return JSONCompletion(value, second, repaired=True, mode=mode)
    meter.invalid()
    raise LLMError(f"{who} gave no valid {name!r} JSON after one repair: {problem}; "
                   f"answer: {_excerpt(second.text)!r}")


def _compact(schema: JSONSchema) -> str:
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
