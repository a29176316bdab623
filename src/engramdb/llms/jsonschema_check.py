"""A small JSON Schema validator for the subset structured LLM answers need.

Supported: ``type`` (a name or a list of names: object, array, string, number,
integer, boolean, null), ``enum``, ``const``, ``properties``, ``required``,
``additionalProperties`` (a boolean or a schema), ``items``, ``minItems``,
``maxItems``, ``minLength``, ``maxLength``, ``minimum``, ``maximum``, and the
annotations ``title``, ``description``, ``default``, ``examples``, ``$schema``.
Any other keyword makes :func:`check_schema` fail: a schema we cannot enforce
fully is refused, never half-checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from engramdb.core.errors import ConfigError

__all__ = ["SchemaViolation", "check_schema", "first_violation", "validate"]

_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
_KEYWORDS = frozenset({
    "type", "enum", "const", "properties", "required", "additionalProperties", "items",
    "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum",
    "title", "description", "default", "examples", "$schema",
})


class SchemaViolation(ValueError):
    """The instance does not follow the schema; the message starts with a JSON path."""


def check_schema(schema: Mapping[str, Any], path: str = "#") -> None:
    """ConfigError if ``schema`` uses anything outside the supported subset."""
    if not isinstance(schema, Mapping):
        raise ConfigError(f"JSON schema at {path} must be an object, got {type(schema).__name__}")
    unknown = sorted(set(schema) - _KEYWORDS)
    if unknown:
        raise ConfigError(f"JSON schema at {path} uses unsupported keyword(s) {', '.join(unknown)}")
    types = schema.get("type")
    for name in [types] if isinstance(types, str) else (types or []):
        if name not in _TYPES:
            raise ConfigError(f"JSON schema at {path} names unknown type {name!r}")
    if "enum" in schema and not isinstance(schema["enum"], list):
        raise ConfigError(f"JSON schema at {path}: enum must be a list")
    if not isinstance(schema.get("required", []), list):
        raise ConfigError(f"JSON schema at {path}: required must be a list")
    for key, sub in (schema.get("properties") or {}).items():
        check_schema(sub, f"{path}/properties/{key}")
    extra = schema.get("additionalProperties", True)
    if not isinstance(extra, bool):
        check_schema(extra, f"{path}/additionalProperties")
    if "items" in schema:
        check_schema(schema["items"], f"{path}/items")


def validate(instance: Any, schema: Mapping[str, Any]) -> None:
    """SchemaViolation naming the first place where ``instance`` breaks ``schema``."""
    problem = first_violation(instance, schema)
    if problem is not None:
        raise SchemaViolation(problem)


def first_violation(instance: Any, schema: Mapping[str, Any], path: str = "$") -> str | None:
    """A message for the first violation found (depth first), or None when valid."""
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(instance, t) for t in allowed):
            return f"{path}: expected {' or '.join(allowed)}, got {_type_name(instance)}"
    if "const" in schema and not _same(instance, schema["const"]):
        return f"{path}: must be {json.dumps(schema['const'])}"
    if "enum" in schema and not any(_same(instance, option) for option in schema["enum"]):
        options = ", ".join(json.dumps(option) for option in schema["enum"])
        return f"{path}: {_excerpt(instance)} is not one of {options}"
    for check in _CHECKS:
        problem = check(instance, schema, path)
        if problem is not None:
            return problem
    return None


def _object(instance: Any, schema: Mapping[str, Any], path: str) -> str | None:
    if not isinstance(instance, dict):
        return None
    missing = [key for key in schema.get("required", []) if key not in instance]
    if missing:
        return f"{path}: missing required {', '.join(repr(k) for k in missing)}"
    properties: Mapping[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties", True)
    for key, value in instance.items():
        where = f"{path}.{key}"
        if key in properties:
            problem = first_violation(value, properties[key], where)
        elif extra is False:
            problem = f"{path}: unexpected property {key!r}"
        elif isinstance(extra, Mapping):
            problem = first_violation(value, extra, where)
        else:
            problem = None
        if problem is not None:
            return problem
    return None


def _array(instance: Any, schema: Mapping[str, Any], path: str) -> str | None:
    if not isinstance(instance, list):
        return None
    if "minItems" in schema and len(instance) < schema["minItems"]:
        return f"{path}: needs at least {schema['minItems']} item(s), has {len(instance)}"
    if "maxItems" in schema and len(instance) > schema["maxItems"]:
        return f"{path}: allows at most {schema['maxItems']} item(s), has {len(instance)}"
    items = schema.get("items")
    if isinstance(items, Mapping):
        for i, item in enumerate(instance):
            problem = first_violation(item, items, f"{path}[{i}]")
            if problem is not None:
                return problem
    return None


def _string(instance: Any, schema: Mapping[str, Any], path: str) -> str | None:
    if not isinstance(instance, str):
        return None
    if "minLength" in schema and len(instance) < schema["minLength"]:
        return f"{path}: shorter than {schema['minLength']} character(s)"
    if "maxLength" in schema and len(instance) > schema["maxLength"]:
        return f"{path}: longer than {schema['maxLength']} character(s)"
    return None


def _number(instance: Any, schema: Mapping[str, Any], path: str) -> str | None:
    if not _is_type(instance, "number"):
        return None
    if "minimum" in schema and instance < schema["minimum"]:
        return f"{path}: {instance} is below the minimum {schema['minimum']}"
    if "maximum" in schema and instance > schema["maximum"]:
        return f"{path}: {instance} is above the maximum {schema['maximum']}"
    return None


_CHECKS: tuple[Callable[[Any, Mapping[str, Any], str], str | None], ...] = (_object, _array, _string, _number)


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":  # JSON has one number type: 3.0 is an integer, True is not
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    kinds: dict[str, type | tuple[type, ...]] = {
        "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    return isinstance(value, kinds[name])


def _type_name(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(value, name):
            return name
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but True != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _excerpt(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
