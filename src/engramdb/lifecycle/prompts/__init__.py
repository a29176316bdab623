"""Versioned prompts of the LLM stages (package files ``<name>.md``) and the JSON schema each
answer follows. They are the stages' logic, so they live with the stages (lifecycle), not
with the LLM adapters, which only carry messages.

A prompt file's first line declares its version, ``<!-- version: N -->``; a
stage that uses a prompt folds that version into its own (``stage_version``), so editing a prompt
(and bumping the line) re-runs the stage's work. The text after the line is
the system message; the stage sends its input as JSON in the user message.
Schemas keep to OpenAI's strict structured outputs (every property required,
no additional properties; optional values are nullable) and to the subset
``llms/jsonschema_check.py`` validates.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

from engramdb.core.errors import ConfigError
from engramdb.core.ports import JSONSchema

__all__ = ["EXTRACT_FACTS_SCHEMA", "PROMPTS", "RECONCILE_DECISIONS", "RECONCILE_SCHEMA", "Prompt", "load_prompt",
           "stage_version"]

_VERSION = re.compile(r"^<!--\s*version:\s*(\d+)\s*-->\s*$")


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt's text (the version line removed) and its declared version."""

    name: str
    text: str
    version: int


def _nullable(kind: str) -> JSONSchema:
    return {"type": [kind, "null"]}


_FACT: JSONSchema = {
    "type": "object",
    "properties": {
        "subject": {"type": "string", "minLength": 1},
        "attribute": {"type": "string", "minLength": 1},
        "value": {"type": "string"},
        "statement": {"type": "string", "minLength": 1},
        "source_turn_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "event_time": _nullable("string"),
    },
    "required": ["subject", "attribute", "value", "statement", "source_turn_ids", "event_time"],
    "additionalProperties": False,
}

#: the answer to ``extract_facts``: {"facts": [fact, ...]}
EXTRACT_FACTS_SCHEMA: JSONSchema = {
    "type": "object",
    "properties": {"facts": {"type": "array", "items": _FACT}},
    "required": ["facts"],
    "additionalProperties": False,
}

RECONCILE_DECISIONS = ("ADD", "UPDATE", "SUPERSEDE", "NOOP")

#: the answer to ``reconcile``: one decision about a new fact against candidate facts
RECONCILE_SCHEMA: JSONSchema = {
    "type": "object",
    "properties": {
        "decision": {"type": "string", "enum": list(RECONCILE_DECISIONS)},
        "target_id": _nullable("string"),
        "statement": _nullable("string"),
        "reason": {"type": "string"},
    },
    "required": ["decision", "target_id", "statement", "reason"],
    "additionalProperties": False,
}

#: prompt name -> the schema its answer follows
PROMPTS: dict[str, JSONSchema] = {"extract_facts": EXTRACT_FACTS_SCHEMA, "reconcile": RECONCILE_SCHEMA}


@functools.cache
def load_prompt(name: str) -> Prompt:
    """The packaged prompt ``<name>.md``; ConfigError if it is missing or declares no version."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ConfigError(f"invalid prompt name {name!r}")
    try:
        raw = resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no prompt named {name!r} (known: {', '.join(sorted(PROMPTS))})") from None
    first, _, text = raw.partition("\n")
    declared = _VERSION.match(first)
    if declared is None:
        raise ConfigError(f"prompt {name!r} must start with a '<!-- version: N -->' line")
    return Prompt(name, text.strip(), int(declared.group(1)))


def stage_version(logic: int, prompt: Prompt) -> int:
    """The version of a stage that asks ``prompt``: its own logic's version times 1000 plus the
    prompt's, so a change of either (a prompt edit bumps its version line) changes it."""
    if not 0 < prompt.version < 1000:
        raise ConfigError(f"prompt {prompt.name!r}: version {prompt.version} must be from 1 to 999")
    return logic * 1000 + prompt.version
