"""Facts with an LLM, end to end: a real Memory on a SQLite file, the real OpenAI client, a scripted
chat server on loopback. Extraction asks once per conversation of a batch, reconciliation once
per new fact that has candidates; bad answers, HTTP errors and timeouts fail the job, which the
queue retries and finally sets aside visibly, while the raw turns stay stored and searchable."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.lifecycle.conftest import MemoryMaker, chat_client
from tests.support.llm_server import ScriptedChatServer, chat, error

from engramdb import Memory
from engramdb.core.models import MemoryRecord
from engramdb.lifecycle.extract import ExtractStage
from engramdb.lifecycle.reconcile import ReconcileStage

U = "u1"


def fact(statement: str, ids: list[str], *, attribute: str = "lives_in", value: str = "x",
         subject: str = "user", when: str | None = None) -> dict[str, Any]:
    return {"subject": subject, "attribute": attribute, "value": value, "statement": statement,
            "source_turn_ids": ids, "event_time": when}


def facts(*items: dict[str, Any]) -> Any:
    return chat(json.dumps({"facts": list(items)}))


def verdict(decision: str, target: str | None = None, statement: str | None = None) -> Any:
    return chat(json.dumps({"decision": decision, "target_id": target, "statement": statement, "reason": "r"}))


def asked(server: ScriptedChatServer, i: int) -> tuple[str, dict[str, Any]]:
    """(schema name, user payload) of request ``i``."""
    body = server.bodies[i]
    return body["response_format"]["json_schema"]["name"], json.loads(body["messages"][-1]["content"])


def current_facts(memory: Memory) -> list[MemoryRecord]:
    return list(memory.list(user_id=U, kinds=["fact"]))


def at(day: int) -> datetime:
    return datetime(2024, 5, day, 12, tzinfo=UTC)


def flushed(memory: Memory) -> None:
    report = memory.flush(timeout=30)
    assert report.remaining == 0 and report.failed == 0, (report, memory.status().to_dict())


def test_one_extraction_call_per_session_and_facts_with_their_provenance(
        make_memory: MemoryMaker, server: ScriptedChatServer) -> None:
    memory = make_memory()
    s1 = memory.add([{"role": "user", "content": "I live in Lisbon now."},
                     {"role": "assistant", "content": "Nice city! Do you have pets?"},
                     {"role": "user", "content": "Yes, a cat called Pimenta. I got her yesterday."}],
                    user_id=U, session_id="s1", timestamp=at(8))
    s2 = memory.add("I work as a nurse.", user_id=U, session_id="s2", role="user", speaker="Ana", timestamp=at(9))
    server.script(
        facts(fact("The user lives in Lisbon.", ["t1"], value="Lisbon"),
              fact("The user has a cat named Pimenta.", ["t3", "t2", s1[2].id], attribute="pet", value="Pimenta",
                   when="2024-05-07"),
              fact("A fact from nowhere.", ["t9", "not-an-id"], attribute="x")),
        facts(fact("Ana is a nurse.", ["t1"], subject="user", attribute="job", value="nurse")),
        verdict("ADD"), verdict("ADD"))
    flushed(memory)

    # Ana's fact shares no slot and no word with the user's two: no candidate, no call
    names = [asked(server, i)[0] for i in range(len(server.requests))]
    assert names == ["extract_facts", "extract_facts", "reconcile", "reconcile"]
    _, first = asked(server, 0)
    assert [(t["id"], t["role"], t["text"][:6]) for t in first["turns"]] == [
        ("t1", "user", "I live"), ("t2", "assistant", "Nice c"), ("t3", "user", "Yes, a")]
    assert first["turns"][0]["time"].startswith("2024-05-08") and "now" in first
    _, second = asked(server, 1)
    assert [(t["id"], t["speaker"], t["text"]) for t in second["turns"]] == [("t1", "Ana", "I work as a nurse.")]
    assert server.bodies[0]["messages"][0]["role"] == "system"
    assert "extract long-term memories" in server.bodies[0]["messages"][0]["content"]

    got = {f.content: f for f in current_facts(memory)}
    assert set(got) == {"The user lives in Lisbon.", "The user has a cat named Pimenta.", "Ana is a nurse."}
    lisbon, cat, nurse = got["The user lives in Lisbon."], got["The user has a cat named Pimenta."], \
        got["Ana is a nurse."]
    assert lisbon.provenance == (s1[0].id,) and cat.provenance == (s1[2].id, s1[1].id)
    assert nurse.provenance == (s2[0].id,) and nurse.subject == "Ana"  # "user" is the speaker who said it
    assert lisbon.event_time == at(8) and cat.event_time == datetime(2024, 5, 7, tzinfo=UTC)
    assert lisbon.scope.session_id is None and (lisbon.subject, lisbon.attribute) == ("user", "lives_in")
    assert lisbon.metadata == {"value": "Lisbon", "single": False, "extractor": "llm", "prompt": "extract_facts",
                               "prompt_version": 1}
    # a reconciliation request lists the scope's other current facts that share its slot or words
    _, rec = asked(server, 2)
    assert rec["new"]["statement"] in {lisbon.content, cat.content}
    assert [c["id"] for c in rec["candidates"]] == ["f1"]
    assert {rec["new"]["statement"], rec["candidates"][0]["statement"]} == {lisbon.content, cat.content}
    llm = memory.pipeline.llm
    assert llm is not None and llm.usage().calls == 4 and llm.usage().prompt_tokens == 4 * 11


def test_reconciliation_verdicts(make_memory: MemoryMaker, server: ScriptedChatServer) -> None:
    memory = make_memory()

    def said(text: str, day: int, *answers: Any) -> str:
        server.script(*answers)
        turn = memory.add(text, user_id=U, session_id=f"s{day}", role="user", timestamp=at(day))[0]
        flushed(memory)
        return turn.id

    t1 = said("I live in Porto.", 1, facts(fact("The user lives in Porto.", ["t1"], value="Porto")))
    assert len(server.requests) == 1  # the only fact of the scope: no candidates, no call
    porto = current_facts(memory)[0]

    t2 = said("I moved to Lisbon.", 2, facts(fact("The user lives in Lisbon.", ["t1"], value="Lisbon")),
              verdict("SUPERSEDE", "f1"))
    _, rec = asked(server, 2)
    assert [c["statement"] for c in rec["candidates"]] == ["The user lives in Porto."]
    [lisbon] = current_facts(memory)
    assert lisbon.content == "The user lives in Lisbon."
    old = memory.get(porto.id)
    assert old.superseded_by == lisbon.id and old.valid_to == at(2)
    assert [f.content for f in memory.list(user_id=U, kinds=["fact"], valid_at=at(1))] == ["The user lives in Porto."]

    t3 = said("Lisbon is home.", 3, facts(fact("The user lives in Lisbon.", ["t1"], value="Lisbon")),
              verdict("NOOP", "f1"))
    [kept] = current_facts(memory)  # the duplicate merged into the fact it repeats
    assert kept.id == lisbon.id and kept.provenance == (t2, t3)

    said("I adopted a cat, Pimenta.", 4,
         facts(fact("The user has a cat named Pimenta.", ["t1"], attribute="pet", value="Pimenta")),
         verdict("SUPERSEDE", "f7"))  # no such candidate: ignored, the fact is added
    assert {f.content for f in current_facts(memory)} == {"The user lives in Lisbon.",
                                                           "The user has a cat named Pimenta."}

    t5 = said("Pimenta is a tabby.", 5,
              facts(fact("The user's cat Pimenta is a tabby.", ["t1"], attribute="pet", value="Pimenta")),
              verdict("UPDATE", "f1", "The user has a tabby cat named Pimenta."))
    _, rec = asked(server, len(server.requests) - 1)
    assert rec["candidates"][0]["statement"] == "The user has a cat named Pimenta."  # the slot's facts first
    now = {f.content: f for f in current_facts(memory)}
    assert set(now) == {"The user lives in Lisbon.", "The user has a tabby cat named Pimenta."}
    refined = now["The user has a tabby cat named Pimenta."]
    assert t5 in refined.provenance and refined.metadata["refines"][1] in refined.provenance
    replaced = memory.list(user_id=U, kinds=["fact"], include_superseded=True)
    assert {r.content for r in replaced if r.superseded_by == refined.id} == {
        "The user has a cat named Pimenta.", "The user's cat Pimenta is a tabby."}
    assert memory.count(user_id=U) >= 5 and t1  # every turn kept


def test_invalid_json_twice_fails_the_job_visibly_and_the_turn_stays(
        make_memory: MemoryMaker, server: ScriptedChatServer) -> None:
    memory = make_memory()
    turn = memory.add("I live in Lisbon.", user_id=U, session_id="s1", role="user")[0]
    server.script(*(chat("sure! facts: lisbon") for _ in range(2)),  # attempt 1: answer + repair
                  chat('{"facts": [{"subject": "user"'), chat('{"facts": [{"subject": "user"'))  # attempt 2
    report = memory.flush(timeout=30)
    assert report.failed == 1 and report.remaining == 0
    assert len(server.requests) == 4  # two attempts of the job, each with its one repair round
    stage = next(s for s in memory.status().stages if s.stage == "extract")
    assert stage.failed == 1 and stage.last_error is not None
    assert "no valid 'extract_facts' JSON after one repair" in stage.last_error
    [job] = memory.jobs(state="failed", stage="extract")
    assert job.attempts == 2 and job.memory_id == turn.id
    assert current_facts(memory) == []
    hits = memory.search("Lisbon", user_id=U).hits
    assert [h.record.id for h in hits] == [turn.id]

    server.script(facts(fact("The user lives in Lisbon.", ["t1"], value="Lisbon")))
    assert memory.retry(stage="extract") == 1
    flushed(memory)
    assert [f.provenance for f in current_facts(memory)] == [(turn.id,)]


def test_http_500_then_success_on_retry(make_memory: MemoryMaker, server: ScriptedChatServer) -> None:
    memory = make_memory()
    turn = memory.add("I live in Lisbon.", user_id=U, session_id="s1", role="user")[0]
    server.script(error(500, "overloaded"), facts(fact("The user lives in Lisbon.", ["t1"], value="Lisbon")))
    flushed(memory)
    assert len(server.requests) == 2
    assert [f.provenance for f in current_facts(memory)] == [(turn.id,)]
    llm = memory.pipeline.llm
    assert llm is not None and llm.usage().failures == 1 and llm.usage().calls == 2


def test_a_timeout_fails_the_attempt_and_the_retry_succeeds(
        make_memory: MemoryMaker, server: ScriptedChatServer) -> None:
    memory = make_memory(llm=chat_client(server.url, timeout_s=0.3))
    turn = memory.add("I live in Lisbon.", user_id=U, session_id="s1", role="user")[0]
    assert [h.record.id for h in memory.search("Lisbon", user_id=U).hits] == [turn.id]  # before any work
    server.script(chat('{"facts": []}', delay_s=1.5),
                  facts(fact("The user lives in Lisbon.", ["t1"], value="Lisbon")))
    flushed(memory)
    assert [f.provenance for f in current_facts(memory)] == [(turn.id,)]
    llm = memory.pipeline.llm
    assert llm is not None and llm.usage().failures == 1
    assert turn.id in [h.record.id for h in memory.search("Lisbon", user_id=U).hits]


def test_without_an_llm_the_rules_run(make_memory: MemoryMaker, server: ScriptedChatServer,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENGRAM_LLM", raising=False)
    memory = make_memory(llm=False)
    assert memory.pipeline.llm is None
    memory.add([{"role": "user", "content": "I live in Porto."}, {"role": "assistant", "content": "I live in Rome"}],
               user_id=U, session_id="s1")
    flushed(memory)
    assert [(f.content, f.metadata["extractor"]) for f in current_facts(memory)] == [("The user lives in Porto",
                                                                                      "rules")]
    assert server.requests == []
    stages = memory.pipeline.stages(memory.store)
    assert [s.version for s in stages[1:]] == [1, 1]


def test_the_llm_comes_from_the_environment(make_memory: MemoryMaker, server: ScriptedChatServer,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGRAM_LLM", "openai:envmodel")
    monkeypatch.setenv("ENGRAM_LLM_BASE_URL", server.url)
    memory = Memory(store=make_memory(llm=False).store, embedder="hash:64", facts=True)
    try:
        assert memory.pipeline.llm is not None and memory.pipeline.llm.model_id == "openai:envmodel"
        stages = memory.pipeline.stages(memory.store)
        extract, reconcile = stages[1], stages[2]
        assert isinstance(extract, ExtractStage) and isinstance(reconcile, ReconcileStage)
        assert extract.version == 1001 and reconcile.version == 1001  # logic 1, prompt 1
    finally:
        memory.pipeline.close(0)
