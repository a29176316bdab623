"""Import you can trust: a file changes nothing outside the scopes its lines carry, and is
written whole or not at all (Store.restore)."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from engramdb import Memory
from engramdb.core.errors import ConflictError, EngramError, ValidationError


def dump(m: Memory, **scope: str) -> list[dict[str, Any]]:
    buf = io.StringIO()
    m.export_jsonl(buf, **scope)
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def lines(items: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(item, ensure_ascii=False) for item in items]


@pytest.fixture
def sam_and_mallory(memory_factory):
    """A store where sam has a memory, and an export of mallory's own (from another store)."""
    store = memory_factory("shared")
    sam = store.add("my bank PIN hint is the cat's birthday", user_id="sam")[0]
    other = memory_factory("mallory")
    other.add("mallory's grocery list", user_id="mallory")
    return store, sam, dump(other)


def hijack_record(sam_id: str, base: dict[str, Any]) -> dict[str, Any]:
    return {**base, "id": sam_id, "version": 2, "user_id": "mallory", "content": "mallory reads this now",
            "updated_at": datetime.now().astimezone().isoformat()}


def test_a_record_with_another_scopes_id_is_a_conflict_and_writes_nothing(sam_and_mallory):
    store, sam, mallory = sam_and_mallory
    before = dump(store)
    crafted = [*mallory, hijack_record(sam.id, mallory[0])]
    with pytest.raises(ConflictError):
        store.import_jsonl(lines(crafted))
    assert dump(store) == before  # mallory's own lines were not written either
    assert store.get(sam.id, user_id="sam").content == sam.content
    store.update(sam.id, content="my PIN hint changed", user_id="sam")
    assert store.list(user_id="mallory") == []


@pytest.mark.parametrize("version", [1, 2, 7])
def test_any_version_of_another_scopes_id_is_refused(sam_and_mallory, version):
    store, sam, mallory = sam_and_mallory
    before = dump(store)
    # even sam's own words: the line claims his memory for another scope
    crafted = {**hijack_record(sam.id, mallory[0]), "version": version, "content": sam.content}
    with pytest.raises(ConflictError):
        store.import_jsonl(lines([crafted]))
    assert dump(store) == before


def test_one_id_in_two_scopes_within_a_file_is_a_conflict(memory_factory):
    m = memory_factory()
    src = memory_factory("src")
    rec = src.add("a note", user_id="ann")[0]
    item = next(x for x in dump(src) if x["type"] == "record")
    twin = {**item, "version": 2, "user_id": "eve", "content": "eve's version",
            "updated_at": (rec.updated_at + timedelta(seconds=1)).isoformat()}
    with pytest.raises(ConflictError):
        m.import_jsonl(lines([item, twin]))
    with pytest.raises(ConflictError):
        m.import_jsonl(lines([{**item, "session_id": "s9"}, item]))  # a narrower scope is another scope
    assert dump(m) == []


def test_a_successor_of_another_scope_is_refused(sam_and_mallory):
    store, sam, mallory = sam_and_mallory
    record = next(x for x in mallory if x["type"] == "record")
    stamp = datetime.now().astimezone().isoformat()
    with pytest.raises(ConflictError):
        store.import_jsonl(lines([{**record, "superseded_at": stamp, "superseded_by": sam.id}]))
    assert store.list(user_id="mallory") == []


# ---- history events ------------------------------------------------------------


def event_for(memory_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "event", "id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "memory_id": memory_id, "action": "update",
            "at": datetime.now().astimezone().isoformat(), "before": None, "after": None, **fields}


def test_an_event_cannot_attach_history_to_another_scopes_memory(sam_and_mallory):
    store, sam, mallory = sam_and_mallory
    history = [e.to_dict() for e in store.history(sam.id)]
    record = next(x for x in mallory if x["type"] == "record")
    forged = [
        event_for(sam.id, after={**record, "id": sam.id}),  # names mallory's scope
        event_for(sam.id),  # names no scope at all
        event_for(sam.id, action="delete", before={"id": sam.id}),  # a tombstone for a live memory
        event_for(sam.id, action="add", before=None, after={**record, "id": sam.id}),
    ]
    for ev in forged:
        with pytest.raises((ConflictError, ValidationError)):
            store.import_jsonl(lines([*mallory, ev]))
        assert [e.to_dict() for e in store.history(sam.id)] == history
        assert store.list(user_id="mallory") == []


def test_an_event_for_a_memory_the_import_does_not_hold_is_refused(memory_factory):
    m = memory_factory()
    with pytest.raises(ValidationError):
        m.import_jsonl(lines([event_for("01HNOSUCHMEMORY00000000000", after={"user_id": "x"})]))


def test_an_event_id_taken_by_another_memory_is_a_conflict(sam_and_mallory):
    store, sam, mallory = sam_and_mallory
    sams_event = store.history(sam.id)[0]
    stolen = [{**x, "id": sams_event.id} if x["type"] == "event" else x for x in mallory]
    with pytest.raises(ConflictError):
        store.import_jsonl(lines(stolen))
    assert store.list(user_id="mallory") == []
    assert [e.id for e in store.history(sam.id)] == [sams_event.id]


# ---- the same scope: re-imports and later exports ------------------------------------


def test_a_later_export_of_the_same_scope_brings_the_new_versions(memory_factory):
    src, dst = memory_factory("src"), memory_factory("dst")
    turn = src.add([{"role": "user", "content": "I live in Porto", "timestamp": "2024-01-01T10:00:00Z"}],
                   user_id="ann", session_id="s1")[0]
    fact = src.add("Ann is vegetarian", user_id="ann", kind="fact")[0]
    first = dump(src, user_id="ann")
    src.update(turn.id, content="I live in Lisbon")
    newer = src.supersede(fact.id, "Ann is vegan")
    second = dump(src, user_id="ann")

    assert dst.import_jsonl(lines(first)) == 2
    assert dst.import_jsonl(lines(second)) == 2  # the update's v2 and the superseding fact
    assert dst.import_jsonl(lines(second)) == 0  # idempotent
    assert dst.import_jsonl(lines(first)) == 0  # an older export changes nothing
    assert dump(dst, user_id="ann") == second
    assert [r.to_dict() for r in dst.list(user_id="ann", include_superseded=True)] == \
        [r.to_dict() for r in src.list(user_id="ann", include_superseded=True)]
    assert {r.id for r in dst.list(user_id="ann")} == {turn.id, newer.id}
    for mid in (turn.id, fact.id, newer.id):
        assert [e.to_dict() for e in dst.history(mid)] == [e.to_dict() for e in src.history(mid)]
    assert dst.get(turn.id).content == "I live in Lisbon" and dst.get(turn.id).version == 2
    hits = dst.search("where does Ann live", user_id="ann").hits
    assert [h.record.content for h in hits if h.record.id == turn.id] == ["I live in Lisbon"]


def _versions(m: Memory, **scope: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    items = dump(m, **scope)
    return items, next(x for x in items if x["type"] == "record")


def test_a_new_version_must_start_after_the_current_one(memory_factory):
    m = memory_factory()
    rec = m.add("Ann lives in Porto", user_id="ann")[0]
    _, v1 = _versions(m)
    early = {**v1, "version": 2, "content": "Ann lives in Faro",
             "updated_at": (rec.updated_at - timedelta(days=1)).isoformat()}
    with pytest.raises(ConflictError):
        m.import_jsonl(lines([early]))
    assert m.get(rec.id).content == "Ann lives in Porto"


def test_a_superseded_memory_gets_no_new_version(memory_factory):
    m = memory_factory()
    rec = m.add("Ann is vegetarian", user_id="ann", kind="fact")[0]
    m.supersede(rec.id, "Ann is vegan")
    v1 = next(x for x in dump(m) if x["type"] == "record" and x["id"] == rec.id)
    later = {**v1, "version": 2, "content": "Ann eats fish", "superseded_at": None, "superseded_by": None,
             "updated_at": (datetime.fromisoformat(v1["superseded_at"]) + timedelta(seconds=1)).isoformat()}
    with pytest.raises(ConflictError):
        m.import_jsonl(lines([later]))
    assert [r.content for r in m.list(user_id="ann")] == ["Ann is vegan"]


def test_a_same_scope_new_version_becomes_current_and_keeps_the_past(memory_factory):
    m = memory_factory()
    rec = m.add([{"role": "user", "content": "I walk my dog at noon", "timestamp": "2024-01-01T12:00:00Z"}],
                user_id="ann", session_id="s1")[0]
    _, v1 = _versions(m)
    later = rec.updated_at + timedelta(seconds=5)
    assert m.import_jsonl(lines([{**v1, "version": 2, "content": "I walk my dog at dawn",
                                  "updated_at": later.isoformat()}])) == 1
    assert [r.content for r in m.list(user_id="ann")] == ["I walk my dog at dawn"]  # one current version
    assert [r.content for r in m.list(user_id="ann", as_of=later - timedelta(seconds=1))] == \
        ["I walk my dog at noon"]
    from engramdb.core.models import Scope
    from engramdb.core.ports import ReadSpec

    spec = ReadSpec(Scope(user_id="ann"))
    found = m.store.fetch([s.ref for s in m.store.window_search(spec, ["noon"], 10)], spec)
    assert found == {}  # the old version left its window


def test_every_refusal_is_an_engram_error(sam_and_mallory):
    store, sam, mallory = sam_and_mallory
    with pytest.raises(EngramError):
        store.import_jsonl(lines([{**hijack_record(sam.id, mallory[0]), "version": 0}]))
