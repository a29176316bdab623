"""Packaged, versioned prompts, their answer schemas, and the scripted LLM on the same rules."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from engramdb.core.errors import ConfigError, LLMError
from engramdb.lifecycle.prompts import PROMPTS, RECONCILE_DECISIONS, RECONCILE_SCHEMA, load_prompt
from engramdb.llms.jsonschema_check import check_schema, first_violation
from engramdb.llms.scripted import ScriptedLLM


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_every_prompt_is_packaged_with_a_version_and_a_strict_schema(name: str) -> None:
    prompt = load_prompt(name)
    assert prompt.name == name and prompt.version >= 1
    assert "version:" not in prompt.text and len(prompt.text) > 200 and "JSON" in prompt.text
    schema = PROMPTS[name]
    check_schema(schema)
    # OpenAI strict structured outputs: every object lists all its properties as required, no extras
    stack = [schema]
    while stack:
        node = stack.pop()
        if node.get("type") == "object":
            assert node["additionalProperties"] is False and set(node["required"]) == set(node["properties"])
            stack.extend(node["properties"].values())
        if "items" in node:
            stack.append(node["items"])


def test_the_prompt_files_are_package_data() -> None:
    files = {p.name for p in resources.files("engramdb.lifecycle.prompts").iterdir()}
    assert {f"{name}.md" for name in PROMPTS} <= files


def test_unknown_or_bad_prompt_names() -> None:
    with pytest.raises(ConfigError, match="no prompt named 'nope'"):
        load_prompt("nope")
    with pytest.raises(ConfigError, match="invalid prompt name"):
        load_prompt("../secrets")


def test_extraction_answer_through_the_scripted_llm() -> None:
    fact = {"subject": "user", "attribute": "lives_in", "value": "Lisbon", "statement": "The user lives in Lisbon.",
            "source_turn_ids": ["t1"], "event_time": None}
    llm = ScriptedLLM(['{"facts": [{"subject": "user"}]}', json.dumps({"facts": [fact]})])
    prompt = load_prompt("extract_facts")
    messages = [{"role": "system", "content": prompt.text},
                {"role": "user", "content": json.dumps({"turns": [{"id": "t1", "text": "I live in Lisbon"}]})}]
    out = llm.complete_json(messages, PROMPTS["extract_facts"], name="extract_facts")
    assert out.data["facts"] == [fact] and out.repaired and out.mode == "none"
    assert llm.calls[0][0]["content"].startswith(prompt.text)  # schema appended to the system prompt
    assert "missing required" in llm.calls[1][-1]["content"]
    assert llm.usage().calls == 2 and llm.usage().repairs == 1


def test_reconcile_schema_takes_each_decision_and_nothing_else() -> None:
    for decision in RECONCILE_DECISIONS:
        answer = {"decision": decision, "target_id": None, "statement": None, "reason": "r"}
        assert first_violation(answer, RECONCILE_SCHEMA) is None
    assert first_violation({"decision": "DELETE", "target_id": None, "statement": None, "reason": ""},
                           RECONCILE_SCHEMA) is not None


def test_scripted_llm_fails_like_the_real_one() -> None:
    llm = ScriptedLLM(["nope", "still nope"])
    with pytest.raises(LLMError, match="scripted LLM 'scripted' gave no valid 'x' JSON"):
        llm.complete_json([{"role": "user", "content": "q"}], {"type": "object"}, name="x")
    with pytest.raises(LLMError, match="no response left"):
        llm.complete([{"role": "user", "content": "q"}])
    assert llm.usage().failures == 2
