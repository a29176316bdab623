"""The LLM stages on their own, with the shipped scripted LLM: what they ask and how answers map
onto writes (ids restricted to the call's turns or candidates, times, verdicts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from engramdb.core.errors import LLMError
from engramdb.core.ids import new_id
from engramdb.core.models import Kind, MemoryRecord, Scope, content_hash
from engramdb.lifecycle.extract import ExtractStage, extracts_from
from engramdb.lifecycle.llm_reconcile import reconcile_one
from engramdb.lifecycle.prompts import load_prompt
from engramdb.llms.scripted import ScriptedLLM

T0 = datetime(2024, 5, 8, 12, tzinfo=UTC)


def turn(text: str, session: str = "s1", *, role: str | None = "user", minutes: int = 0,
         kind: Kind = Kind.TURN) -> MemoryRecord:
    when = T0 + timedelta(minutes=minutes)
    return MemoryRecord(new_id(), Scope("u", None, session), kind, text, when, when, when, role=role,
                        content_hash=content_hash(text))


def a_fact(statement: str, *, day: int = 8, attribute: str = "lives_in") -> MemoryRecord:
    when = datetime(2024, 5, day, tzinfo=UTC)
    return MemoryRecord(new_id(), Scope("u"), Kind.FACT, statement, when, when, when, provenance=(new_id(),),
                        subject="user", attribute=attribute, metadata={"value": statement.split()[-1]})


def answer(*facts: dict[str, object]) -> str:
    return json.dumps({"facts": list(facts)})


def item(statement: str, ids: list[str], when: str | None = None) -> dict[str, object]:
    return {"subject": "user", "attribute": "a", "value": "v", "statement": statement, "source_turn_ids": ids,
            "event_time": when}


def test_extraction_asks_once_per_conversation_and_keeps_only_facts_its_turns_back() -> None:
    a1, a2, b1 = turn("one", minutes=1), turn("two", role="assistant", minutes=2), turn("three", "s2")
    llm = ScriptedLLM([answer(item("A.", ["t2"], "last week"), item("B.", ["t7"]), item("C.", [a1.id, "t1"])),
                       answer(item("D.", ["t1"], "2024-01-02T03:04:05Z"))])
    out = ExtractStage(lambda recs: [], llm=llm).run([a2, b1, a1])
    assert len(llm.calls) == 2
    first = json.loads(llm.calls[0][-1]["content"])
    assert [t["text"] for t in first["turns"]] == ["one", "two"]  # in conversation order
    got = {r.content: r for r in out.records}
    assert set(got) == {"A.", "C.", "D."}
    assert got["A."].provenance == (a2.id,) and got["A."].event_time == a2.event_time  # unreadable time: the turn's
    assert got["C."].provenance == (a1.id,)  # cited twice (memory id and short id), once
    assert got["D."].provenance == (b1.id,) and got["D."].event_time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert out.version == 1001


def test_extraction_errors_fail_the_stage() -> None:
    llm = ScriptedLLM(["no", "still no"])
    with pytest.raises(LLMError):
        ExtractStage(lambda recs: [], llm=llm).run([turn("I live in Lisbon")])


def test_with_an_llm_every_turn_is_read_with_rules_only_the_users() -> None:
    said = turn("I live in Rome", role="assistant")
    assert extracts_from(said, llm=True) and not extracts_from(said)
    assert extracts_from(turn("x", kind=Kind.NOTE)) and not extracts_from(a_fact("x"), llm=True)


def verdict(decision: str, target: str | None = None, statement: str | None = None) -> str:
    return json.dumps({"decision": decision, "target_id": target, "statement": statement, "reason": ""})


def test_reconcile_maps_verdicts_onto_writes() -> None:
    prompt = load_prompt("reconcile")
    old, new = a_fact("The user lives in Porto", day=1), a_fact("The user lives in Lisbon", day=5)
    assert reconcile_one(ScriptedLLM([]), prompt, new, []).supersede == ()  # no candidates: no call
    sup = reconcile_one(ScriptedLLM([verdict("SUPERSEDE", "f1")]), prompt, new, [old]).supersede
    assert [(s.old_id, s.new_id, s.valid_to) for s in sup] == [(old.id, new.id, new.event_time)]
    # an old fact said after the target cannot replace it: the target closes it instead
    late = reconcile_one(ScriptedLLM([verdict("SUPERSEDE", new.id)]), prompt, old, [new]).supersede
    assert [(s.old_id, s.new_id) for s in late] == [(old.id, new.id)]
    noop = reconcile_one(ScriptedLLM([verdict("NOOP", "f1")]), prompt, new, [old])
    assert [(m.kept_id, m.dropped_id) for m in noop.merge] == [(old.id, new.id)]
    for ignored in (verdict("NOOP", "f2"), verdict("ADD", "f1"), verdict("SUPERSEDE", None)):
        w = reconcile_one(ScriptedLLM([ignored]), prompt, new, [old])
        assert (w.records, w.supersede, w.merge) == ((), (), ())
    up = reconcile_one(ScriptedLLM([verdict("UPDATE", "f1", "The user lived in Porto, now Lisbon.")]), prompt,
                       new, [old])
    [refined] = up.records
    assert refined.content == "The user lived in Porto, now Lisbon." and refined.event_time == new.event_time
    assert set(refined.provenance) == {*old.provenance, *new.provenance, new.id}
    assert {(s.old_id, s.new_id) for s in up.supersede} == {(old.id, refined.id), (new.id, refined.id)}
    assert [(j.stage, j.memory_id) for j in up.jobs] == [("embed", refined.id)]
    plain = reconcile_one(ScriptedLLM([verdict("UPDATE", "f1")]), prompt, new, [old])  # no statement
    assert [(s.old_id, s.new_id) for s in plain.supersede] == [(old.id, new.id)] and plain.records == ()
