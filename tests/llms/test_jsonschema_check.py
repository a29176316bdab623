"""The JSON Schema subset validator structured answers are checked with."""

from __future__ import annotations

from typing import Any

import pytest

from engramdb.core.errors import ConfigError
from engramdb.lifecycle.prompts import EXTRACT_FACTS_SCHEMA
from engramdb.llms.jsonschema_check import SchemaViolation, check_schema, first_violation, validate

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "kind": {"enum": ["a", "b"]},
        "note": {"type": ["string", "null"]},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("value", [
    {"name": "Ana", "age": 3},
    {"name": "Ana", "age": 3.0, "tags": ["x"], "kind": "b", "note": None},
])
def test_valid_instances(value: Any) -> None:
    validate(value, PERSON)


@pytest.mark.parametrize(("value", "message"), [
    ([], "$: expected object, got array"),
    ({"name": "Ana"}, "$: missing required 'age'"),
    ({"name": "Ana", "age": True}, "$.age: expected integer, got boolean"),
    ({"name": "Ana", "age": 2.5}, "$.age: expected integer, got number"),
    ({"name": "", "age": 1}, "$.name: shorter than 1"),
    ({"name": "A", "age": -1}, "$.age: -1 is below the minimum 0"),
    ({"name": "A", "age": 1, "tags": ["x", 2]}, "$.tags[1]: expected string, got integer"),
    ({"name": "A", "age": 1, "tags": ["x", "y", "z"]}, "$.tags: allows at most 2"),
    ({"name": "A", "age": 1, "kind": "c"}, '$.kind: "c" is not one of "a", "b"'),
    ({"name": "A", "age": 1, "note": 5}, "$.note: expected string or null, got integer"),
    ({"name": "A", "age": 1, "extra": 1}, "$: unexpected property 'extra'"),
])
def test_violations_name_the_path(value: Any, message: str) -> None:
    problem = first_violation(value, PERSON)
    assert problem is not None and problem.startswith(message)
    with pytest.raises(SchemaViolation):
        validate(value, PERSON)


def test_additional_properties_as_a_schema_and_json_equality() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "number"}}
    assert first_violation({"a": 1, "b": 2.5}, schema) is None
    assert first_violation({"a": "x"}, schema) == "$.a: expected number, got string"
    assert first_violation(1, {"enum": [1.0]}) is None
    assert first_violation(True, {"enum": [1]}) is not None  # true is not 1 in JSON
    assert first_violation(0, {"const": False}) is not None


@pytest.mark.parametrize(("schema", "message"), [
    ({"type": "string", "pattern": "x"}, "unsupported keyword"),
    ({"type": "text"}, "unknown type"),
    ({"type": "object", "properties": {"a": {"anyOf": []}}}, "#/properties/a uses unsupported"),
    ({"type": "array", "items": {"format": "date"}}, "#/items"),
    ({"enum": "a"}, "enum must be a list"),
])
def test_schemas_outside_the_subset_are_refused(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_schema(schema)


def test_the_packaged_schemas_are_inside_the_subset() -> None:
    check_schema(EXTRACT_FACTS_SCHEMA)
