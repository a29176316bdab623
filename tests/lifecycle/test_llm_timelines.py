"""The hand-written timelines (bench/timelines.py) through the LLM path: extraction and
reconciliation ask a scripted OpenAI-compatible server on loopback, through the real client,
prompts, JSON schemas and stages, and every final state, ``valid_at`` / ``as_of`` view, history
and expiry check must hold as on the rule path.

The scripted model reads its prompt: for extraction it looks each turn's text up in
``READINGS`` (what a competent model would draw from it: no fact from a denial or a past
habit, a fact from the door code the rules ignore); for reconciliation it applies a fixed
policy to the candidates it is shown (same slot and value: NOOP; same single-valued slot:
SUPERSEDE; else ADD). Neither is engramdb code: the test proves that what the model answers
becomes the right writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.lifecycle.conftest import chat_client
from tests.support.llm_server import Recorded, Reply, ScriptedChatServer, chat

from engramdb.bench.timelines import TIMELINES, run

# turn text -> (attribute, value, statement, event time or None)
Reading = tuple[str, str, str, str | None]
READINGS: dict[str, list[Reading]] = {
    "I live in Lisbon, near the river.": [("home city", "Lisbon", "The user lives in Lisbon.", None)],
    # "last week", said on 2023-03-05: the model dates the move itself
    "Big news: I moved to Berlin last week!": [("home city", "Berlin", "The user moved to Berlin.", "2023-02-26")],
    "I just moved to Tokyo for work.": [("home city", "Tokyo", "The user moved to Tokyo.", None)],
    "I work at Google as a data analyst.": [("employer", "Google", "The user works at Google.", None),
                                            ("occupation", "data analyst", "The user is a data analyst.", None)],
    "I got a job at Spotify, starting Monday!": [("employer", "Spotify", "The user works at Spotify.", None)],
    "I live in Paris.": [("home city", "Paris", "The user lives in Paris.", None)],
    "As I said, I live in Paris.": [("home city", "Paris", "The user lives in Paris.", None)],
    "I still live in Paris, yes.": [("home city", "Paris", "The user still lives in Paris.", None)],
    "I live in Rome.": [("home city", "Rome", "The user lives in Rome.", None)],
    "I live in Milan now.": [("home city", "Milan", "The user lives in Milan.", None)],
    "Sorry, my mistake: I live in Rome, not Milan.": [("home city", "Rome", "The user lives in Rome.", None)],
    "I live in Berlin.": [("home city", "Berlin", "The user lives in Berlin.", None)],
    "I live in Lisbon.": [("home city", "Lisbon", "The user lives in Lisbon.", None)],
    "I'm vegetarian, so no steak for me.": [("diet", "vegetarian", "The user is vegetarian.", None)],
    "I am vegan now, since January.": [("diet", "vegan", "The user is vegan.", "2024-01-01")],
    "My dog is called Rex.": [("pet", "Rex", "The user has a dog called Rex.", None)],
    "My cat is called Tom.": [("pet", "Tom", "The user has a cat called Tom.", None)],
    "I don't live in Paris anymore.": [],
    "I used to live in Porto.": [],
    # said under a one-second TTL: the fact must expire with the turn
    "The door code is 4711 until tonight.": [("door code", "4711", "The door code is 4711.", None)],
    "I live in Oslo.": [("home city", "Oslo", "The user lives in Oslo.", None)],
    "I live in Madrid.": [("home city", "Madrid", "The user lives in Madrid.", None)],
}
MANY_VALUED = {"pet"}


def scripted_model(recorded: Recorded) -> Reply:
    body = recorded.body
    name = body["response_format"]["json_schema"]["name"]
    payload = json.loads(body["messages"][-1]["content"])
    if name == "extract_facts":
        return chat(json.dumps({"facts": [
            {"subject": "user", "attribute": attribute, "value": value, "statement": statement,
             "source_turn_ids": [turn["id"]], "event_time": when}
            for turn in payload["turns"] for attribute, value, statement, when in READINGS[turn["text"]]]}))
    assert name == "reconcile", name
    return chat(json.dumps(_verdict(payload["new"], payload["candidates"])))


def _verdict(new: dict[str, Any], candidates: list[dict[str, Any]]) -> dict[str, Any]:
    same_slot = [c for c in candidates if (c["subject"], c["attribute"]) == (new["subject"], new["attribute"])]
    for c in same_slot:
        if str(c["value"]).casefold() == str(new["value"]).casefold():
            return {"decision": "NOOP", "target_id": c["id"], "statement": None, "reason": "already known"}
    if same_slot and new["attribute"] not in MANY_VALUED:
        return {"decision": "SUPERSEDE", "target_id": same_slot[0]["id"], "statement": None, "reason": "changed"}
    return {"decision": "ADD", "target_id": None, "statement": None, "reason": "new"}


@pytest.mark.parametrize("background", [False, True], ids=["inline", "background"])
def test_every_timeline_view_holds_on_the_llm_path(background: bool) -> None:
    with ScriptedChatServer(respond=scripted_model) as server:
        report = run(background=background, llm=chat_client(server.url))
        asked = [b["response_format"]["json_schema"]["name"] for b in server.bodies]
    assert report.to_dict()["failed"] == []
    assert report.passed == sum(len(t.checks) for t in TIMELINES)
    steps = sum(len(t.steps) for t in TIMELINES)
    # one extraction call per written turn (each step is its own session), and a
    # reconciliation call only for facts that had candidates
    assert asked.count("extract_facts") == steps
    assert 0 < asked.count("reconcile") < steps
