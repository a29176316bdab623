"""The store contract: every Store adapter must pass this suite, driven through Memory.

Parametrised over ``STORE_FACTORIES`` in tests/conftest.py; a new backend is one line there.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from engramdb import ConflictError, Kind, Memory, NotFoundError, ScopeError
from engramdb.core.models import Action, Scope, utcnow
from engramdb.core.ports import ReadSpec
from engramdb.embedders.hashing import HashEmbedder


def contents(items) -> list[str]:
    return [getattr(i, "record", i).content for i in items]


def ids(items) -> set[str]:
    return {getattr(i, "record", i).id for i in items}


def keyword_ids(m: Memory, spec: ReadSpec, terms: list[str]) -> set[str]:
    """Ids behind the store's raw BM25 candidates (the port returns refs; fetch resolves them)."""
    scored = m.store.text_search(spec, terms, 10)
    return {r.id for r in m.store.fetch([s.ref for s in scored]).values()}


def tick() -> datetime:
    """A system-time instant strictly between the writes around it."""
    time.sleep(0.005)
    t = utcnow()
    time.sleep(0.005)
    return t


# ---- scoping ---------------------------------------------------------------


@pytest.fixture
def two_users(memory_factory):
    m = memory_factory()
    a = m.add("alice likes green tea and hiking", user_id="alice", session_id="s1")[0]
    a2 = m.add("alice booked a flight to Lisbon", user_id="alice", session_id="s2")[0]
    b = m.add("bob likes green tea and hiking", user_id="bob", session_id="s1")[0]
    return m, a, a2, b


def test_search_never_crosses_users(two_users):
    m, a, a2, b = two_users
    hits = m.search("green tea hiking", user_id="alice", k=50).hits
    assert ids(hits) == {a.id, a2.id}
    assert all(h.record.scope.user_id == "alice" for h in hits)
    assert ids(m.search("green tea hiking", user_id="bob", k=50).hits) == {b.id}


def test_list_and_count_never_cross_users(two_users):
    m, a, a2, b = two_users
    assert ids(m.list(user_id="alice")) == {a.id, a2.id}
    assert ids(m.list(user_id="bob")) == {b.id}
    assert m.count(user_id="alice") == 2
    assert m.count(user_id="bob") == 1
    assert m.count(user_id="carol") == 0


def test_id_access_with_foreign_scope_fails_closed(two_users):
    m, a, _, b = two_users
    assert m.get(b.id, user_id="bob").content == b.content
    with pytest.raises(NotFoundError):
        m.get(b.id, user_id="alice")
    with pytest.raises(NotFoundError):
        m.history(b.id, user_id="alice")
    with pytest.raises(NotFoundError):
        m.update(b.id, content="hijacked", user_id="alice")
    with pytest.raises(NotFoundError):
        m.delete(b.id, user_id="alice")
    assert m.get(b.id).content == "bob likes green tea and hiking"  # untouched
    with pytest.raises(NotFoundError):
        m.get(a.id, user_id="alice", session_id="s2")  # a is in s1


class InterleavingEmbedder(HashEmbedder):
    """The shipped hash embedder, plus one write by another connection at query time.

    ``search`` embeds the query between building the keyword and the dense
    candidate lists, so ``hook`` lands exactly in that window.
    """

    hook: Callable[[], None] | None = None

    def embed_query(self, text: str):
        if self.hook is not None:
            hook, self.hook = self.hook, None
            hook()
        return super().embed_query(text)


def test_concurrent_delete_never_leaks_another_scope(store_factory):
    embedder = InterleavingEmbedder()
    reader = Memory(store=store_factory("shared"), embedder=embedder, background=False)
    writer = Memory(store=store_factory("shared"), embedder="hash", background=False)  # a second connection, same data
    try:
        secret = reader.add("alice secret tangerine", user_id="alice")[0]

        def delete_then_add_for_bob() -> None:
            writer.delete(secret.id)
            writer.add("bob private diary entry", user_id="bob")

        embedder.hook = delete_then_add_for_bob
        hits = reader.search("tangerine", user_id="alice").hits
        assert embedder.hook is None  # the interleaving really happened
        assert [h.record.scope.user_id for h in hits if h.record.scope.user_id != "alice"] == []
        assert secret.id not in ids(hits)
    finally:
        reader.close()
        writer.close()


def test_user_plus_session_narrows(two_users):
    m, a, a2, _ = two_users
    assert ids(m.list(user_id="alice", session_id="s1")) == {a.id}
    assert ids(m.list(user_id="alice", session_id="s2")) == {a2.id}
    assert ids(m.search("alice", user_id="alice", session_id="s2", k=10).hits) == {a2.id}
    assert m.count(user_id="alice", session_id="s1") == 1


def test_agent_scope(memory_factory):
    m = memory_factory()
    x = m.add("the deploy key rotates weekly", agent_id="ops-bot", user_id="u1")[0]
    m.add("the deploy key rotates weekly", agent_id="other-bot", user_id="u1")
    assert ids(m.list(agent_id="ops-bot")) == {x.id}
    assert ids(m.search("deploy key", agent_id="ops-bot").hits) == {x.id}
    assert m.count(user_id="u1") == 2


@pytest.mark.parametrize("call", [
    lambda m: m.add("text without an owner"),
    lambda m: m.search("anything"),
    lambda m: m.list(),
    lambda m: m.count(),
    lambda m: m.delete_scope(),
    lambda m: m.add("blank owner", user_id="   "),
])
def test_missing_scope_is_rejected(memory_factory, call):
    m = memory_factory()
    m.add("something stored", user_id="u")
    with pytest.raises(ScopeError):
        call(m)
    assert m.count(user_id="u") == 1


# ---- filters ---------------------------------------------------------------


@pytest.fixture
def filtered(memory_factory):
    m = memory_factory()
    rows = [
        ("trip to Rome in spring", {"topic": "travel", "stars": 5, "tags": {"city": "rome"}}, "fact", "2023-03-01"),
        ("trip to Oslo in winter", {"topic": "travel", "stars": 2}, "fact", "2023-01-15"),
        ("bought a new laptop", {"topic": "shopping", "stars": 4, "refund": None}, "note", "2023-06-10"),
        ("dentist appointment moved", {"topic": "health"}, "note", "2023-09-30"),
    ]
    by_content = {}
    for text, meta, kind, when in rows:
        by_content[text] = m.add(text, user_id="u", metadata=meta, kind=kind, timestamp=when)[0]
    m.add("trip to Rome in spring", user_id="other", metadata={"topic": "travel", "stars": 5})
    return m, by_content


def _listed(m: Memory, filters=None, **kw) -> set[str]:
    return set(contents(m.list(user_id="u", filters=filters, **kw)))


def test_filter_metadata_equality(filtered):
    m, _ = filtered
    assert _listed(m, {"topic": "travel"}) == {"trip to Rome in spring", "trip to Oslo in winter"}
    assert _listed(m, {"topic": {"$eq": "health"}}) == {"dentist appointment moved"}
    assert _listed(m, {"topic": "nope"}) == set()
    assert _listed(m, {"tags.city": "rome"}) == {"trip to Rome in spring"}
    assert _listed(m, {"metadata.topic": "health"}) == {"dentist appointment moved"}


def test_filter_in_nin_ne(filtered):
    m, _ = filtered
    assert _listed(m, {"topic": {"$in": ["health", "shopping"]}}) == {
        "bought a new laptop", "dentist appointment moved"}
    assert _listed(m, {"topic": {"$nin": ["travel"]}}) == {"bought a new laptop", "dentist appointment moved"}
    assert _listed(m, {"topic": {"$ne": "travel"}}) == {"bought a new laptop", "dentist appointment moved"}
    assert _listed(m, {"topic": {"$in": []}}) == set()


def test_filter_numeric_comparisons(filtered):
    m, _ = filtered
    assert _listed(m, {"stars": {"$gt": 4}}) == {"trip to Rome in spring"}
    assert _listed(m, {"stars": {"$gte": 4}}) == {"trip to Rome in spring", "bought a new laptop"}
    assert _listed(m, {"stars": {"$lt": 4}}) == {"trip to Oslo in winter"}
    assert _listed(m, {"stars": {"$gt": 1, "$lte": 4}}) == {"trip to Oslo in winter", "bought a new laptop"}
    assert _listed(m, {"stars": {"$gt": 3.5}}) == {"trip to Rome in spring", "bought a new laptop"}


def test_filter_exists(filtered):
    m, _ = filtered
    assert _listed(m, {"stars": {"$exists": False}}) == {"dentist appointment moved"}
    assert len(_listed(m, {"stars": {"$exists": True}})) == 3
    # a key holding JSON null exists
    assert _listed(m, {"refund": {"$exists": True}}) == {"bought a new laptop"}


def test_filter_or_and(filtered):
    m, _ = filtered
    assert _listed(m, {"$or": [{"topic": "health"}, {"stars": {"$gte": 5}}]}) == {
        "dentist appointment moved", "trip to Rome in spring"}
    assert _listed(m, {"$and": [{"topic": "travel"}, {"stars": {"$lt": 3}}]}) == {"trip to Oslo in winter"}
    assert _listed(m, {"topic": "travel", "$or": [{"stars": 2}, {"stars": 4}]}) == {"trip to Oslo in winter"}


def test_filter_kind(filtered):
    m, _ = filtered
    facts = {"trip to Rome in spring", "trip to Oslo in winter"}
    assert _listed(m, {"kind": "fact"}) == facts
    assert _listed(m, kinds=["fact"]) == facts
    assert _listed(m, kinds=[Kind.NOTE]) == {"bought a new laptop", "dentist appointment moved"}
    assert _listed(m, {"kind": {"$in": ["note", "summary"]}}) == {"bought a new laptop", "dentist appointment moved"}
    assert set(contents(m.search("trip", user_id="u", kinds=["note"]).hits)) <= {
        "bought a new laptop", "dentist appointment moved"}


def test_filter_event_time_ranges(filtered):
    m, _ = filtered
    assert _listed(m, {"event_time": {"$gte": "2023-03-01", "$lt": "2023-07-01"}}) == {
        "trip to Rome in spring", "bought a new laptop"}
    assert _listed(m, {"event_time": {"$lt": datetime(2023, 2, 1, tzinfo=UTC)}}) == {
        "trip to Oslo in winter"}
    epoch = datetime(2023, 9, 1, tzinfo=UTC).timestamp()
    assert _listed(m, {"event_time": {"$gt": epoch}}) == {"dentist appointment moved"}


def test_filters_apply_to_search(filtered):
    m, _ = filtered
    hits = m.search("trip to Rome", user_id="u", filters={"stars": {"$lt": 5}}, k=10).hits
    assert "trip to Rome in spring" not in contents(hits)
    assert "trip to Oslo in winter" in contents(hits)
    assert all(h.record.scope.user_id == "u" for h in hits)


def test_list_is_in_event_time_order(filtered):
    m, _ = filtered
    times = [r.event_time for r in m.list(user_id="u")]
    assert times == sorted(times)
    assert len(times) == 4
    newest = m.list(user_id="u", newest_first=True)
    assert [r.event_time for r in newest] == sorted(times, reverse=True)
    assert [r.id for r in m.list(user_id="u", newest_first=True, limit=2, offset=1)] == [r.id for r in newest[1:3]]


# ---- score direction -------------------------------------------------------


def test_scores_descending_in_unit_range_exact_match_first(memory_factory):
    m = memory_factory()
    docs = [
        "the cat sat on the mat",
        "my sister adopted a grey kitten named Pixel",
        "quarterly revenue grew by twelve percent",
        "the dog chased the cat around the garden",
        "we planted tomatoes and basil in the garden",
    ]
    for d in docs:
        m.add(d, user_id="u")
    for target in docs:
        hits = m.search(target, user_id="u", k=5).hits
        assert hits[0].record.content == target
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert scores[0] > scores[-1]


# ---- deletes ---------------------------------------------------------------


def test_delete_is_visible_on_next_read(memory_factory):
    m = memory_factory()
    keep = m.add("ordinary note about lunch", user_id="u")[0]
    gone = m.add("the vault code word is xylophonic", user_id="u")[0]
    spec = ReadSpec(Scope(user_id="u"))
    assert keyword_ids(m, spec, ["xylophonic"]) == {gone.id}
    assert gone.id in ids(m.search("xylophonic vault code", user_id="u").hits)
    m.delete(gone.id, user_id="u")
    with pytest.raises(NotFoundError):
        m.get(gone.id)
    assert m.store.text_search(spec, ["xylophonic"], 10) == []
    assert keyword_ids(m, ReadSpec(Scope(user_id="u"), include_superseded=True), ["xylophonic"]) == set()
    assert gone.id not in ids(m.search("xylophonic vault code", user_id="u", k=50).hits)
    assert ids(m.list(user_id="u")) == {keep.id}
    assert m.count(user_id="u") == 1
    with pytest.raises(NotFoundError):
        m.delete(gone.id)


def test_delete_removes_every_version(memory_factory):
    m = memory_factory()
    r = m.add("first wording zanzibarian", user_id="u")[0]
    t = tick()
    m.update(r.id, content="second wording")
    m.delete(r.id)
    assert m.list(user_id="u", as_of=t) == []
    assert m.store.text_search(ReadSpec(Scope(user_id="u"), as_of=t), ["zanzibarian"], 10) == []
    assert m.search("zanzibarian wording", user_id="u", as_of=t).hits == ()


def test_delete_scope(memory_factory):
    m = memory_factory()
    for i in range(5):
        m.add(f"session one fact {i}", user_id="u", session_id="one")
    m.add("session two fact", user_id="u", session_id="two")
    m.add("someone else's fact", user_id="v", session_id="one")
    assert m.delete_scope(user_id="u", session_id="one") == 5
    assert m.count(user_id="u", session_id="one") == 0
    assert contents(m.list(user_id="u")) == ["session two fact"]
    assert m.count(user_id="v") == 1
    assert all(h.record.scope.session_id == "two" for h in m.search("session fact", user_id="u", k=20).hits)
    assert m.delete_scope(user_id="nobody") == 0


# ---- history ---------------------------------------------------------------


def test_history_records_every_change(memory_factory):
    m = memory_factory()
    r = m.add("I work at Initech", user_id="u", metadata={"src": "chat"})[0]
    m.update(r.id, content="I work at Initrode")
    new = m.supersede(r.id, "I work at Globex now")

    events = m.history(r.id, user_id="u")
    assert [e.action for e in events] == [Action.ADD, Action.UPDATE, Action.SUPERSEDE]
    add, upd, sup = events
    assert add.before is None and add.after["content"] == "I work at Initech"
    assert add.after["metadata"] == {"src": "chat"}
    assert upd.before["content"] == "I work at Initech" and upd.after["content"] == "I work at Initrode"
    assert (upd.before["version"], upd.after["version"]) == (1, 2)
    assert sup.before["superseded_by"] is None and sup.after["superseded_by"] == new.id
    assert sup.after["superseded_at"] is not None
    assert [e.at for e in events] == sorted(e.at for e in events)

    new_events = m.history(new.id)
    assert [e.action for e in new_events] == [Action.ADD]
    assert new_events[0].after["provenance"] == [r.id]

    m.delete(new.id, user_id="u")
    gone = m.history(new.id, user_id="u")
    assert [e.action for e in gone] == [Action.DELETE]
    assert gone[0].after is None
    assert "content" not in (gone[0].before or {})  # the tombstone holds no content
    with pytest.raises(NotFoundError):
        m.history(new.id, user_id="someone-else")


def test_history_of_unknown_id(memory_factory):
    m = memory_factory()
    with pytest.raises(NotFoundError):
        m.history("01NOTANIDATALL0000000000000")


# ---- updates and time travel -----------------------------------------------


def test_update_keeps_old_version_reachable(memory_factory):
    m = memory_factory()
    t_before_add = tick()
    r = m.add("Maria lives in Paris", user_id="u")[0]
    t_before_update = tick()
    updated = m.update(r.id, content="Maria lives in Berlin", metadata={"moved": True})
    t_after = tick()

    assert updated.version == 2 and updated.id == r.id
    assert m.get(r.id).content == "Maria lives in Berlin"
    assert contents(m.list(user_id="u")) == ["Maria lives in Berlin"]
    assert contents(m.search("where does Maria live", user_id="u").hits) == ["Maria lives in Berlin"]

    past = m.search("where does Maria live", user_id="u", as_of=t_before_update).hits
    assert contents(past) == ["Maria lives in Paris"]
    assert past[0].record.version == 1 and past[0].record.metadata == {}
    assert contents(m.list(user_id="u", as_of=t_before_update)) == ["Maria lives in Paris"]
    assert contents(m.list(user_id="u", as_of=t_after)) == ["Maria lives in Berlin"]
    assert m.list(user_id="u", as_of=t_before_add) == []
    assert m.list(user_id="u", as_of=t_before_update.isoformat())[0].version == 1


def test_supersede(memory_factory):
    m = memory_factory()
    old = m.add("favourite colour is blue", user_id="u", kind="fact")[0]
    t_before = tick()
    new = m.supersede(old.id, "favourite colour is green")

    assert new.id != old.id and new.provenance == (old.id,) and new.kind is Kind.FACT
    assert contents(m.list(user_id="u")) == ["favourite colour is green"]
    assert contents(m.search("favourite colour", user_id="u", k=10).hits) == ["favourite colour is green"]
    assert m.count(user_id="u") == 1

    both = m.list(user_id="u", include_superseded=True)
    assert set(contents(both)) == {"favourite colour is blue", "favourite colour is green"}
    stale = m.get(old.id)
    assert stale.superseded_by == new.id and stale.superseded_at is not None

    assert contents(m.list(user_id="u", as_of=t_before)) == ["favourite colour is blue"]
    assert contents(m.search("favourite colour", user_id="u", as_of=t_before).hits) == ["favourite colour is blue"]

    with pytest.raises(ConflictError):
        m.supersede(old.id, "favourite colour is red")
    with pytest.raises(ConflictError):
        m.update(old.id, content="favourite colour is red")
    assert m.count(user_id="u") == 1


# ---- export / import -------------------------------------------------------


def _populate(m: Memory) -> None:
    a = m.add([{"role": "user", "name": "Ann", "content": "I adopted a cat called Miso",
                "timestamp": "1:56 pm on 8 May, 2023"},
               {"role": "assistant", "content": "Congratulations on Miso! 🐱"}],
              user_id="ann", session_id="s1", metadata={"src": "chat", "n": 1})
    m.update(a[0].id, content="I adopted two cats, Miso and Tofu", metadata={"src": "chat", "n": 2})
    fact = m.add("Ann is vegetarian", user_id="ann", kind="fact")[0]
    m.supersede(fact.id, "Ann is vegan since 2024")
    m.add("quotes ' \" and ; DROP TABLE memories; --", user_id="bob", agent_id="x")
    m.delete(m.add("to be deleted", user_id="ann")[0].id)


def _export(m: Memory, **scope) -> list[str]:
    buf = io.StringIO()
    m.export_jsonl(buf, **scope)
    return buf.getvalue().splitlines()


def test_export_import_round_trip_is_lossless(memory_factory):
    db1, db2 = memory_factory("db1"), memory_factory("db2")
    _populate(db1)
    lines = _export(db1)
    types = [json.loads(line)["type"] for line in lines]
    assert types.count("record") == 6  # 2 versions + 1 turn + superseded + new + bob's
    assert "to be deleted" not in "\n".join(lines)

    assert db2.import_jsonl(lines) == 6
    assert _export(db2) == lines
    assert db2.import_jsonl(lines) == 0  # a second import is a no-op
    assert _export(db2) == lines

    # the imported copy behaves like the original, including the past
    assert contents(db2.list(user_id="ann")) == contents(db1.list(user_id="ann"))
    hits1, hits2 = (db.search("cats", user_id="ann", k=3).hits for db in (db1, db2))
    assert contents(hits2) == contents(hits1)
    first = next(json.loads(x) for x in lines if json.loads(x).get("version") == 2)
    t = datetime.fromisoformat(first["updated_at"]) - timedelta(microseconds=1)
    assert "I adopted a cat called Miso" in contents(db2.list(user_id="ann", as_of=t))
    assert contents(db2.list(user_id="ann", include_superseded=True)) == contents(
        db1.list(user_id="ann", include_superseded=True))
    assert [e.action for e in db2.history(first["id"])] == [e.action for e in db1.history(first["id"])]


def test_scoped_export_holds_only_that_scope(memory_factory):
    m = memory_factory()
    _populate(m)
    lines = _export(m, user_id="bob")
    records = [json.loads(x) for x in lines if json.loads(x)["type"] == "record"]
    assert len(records) == 1 and records[0]["user_id"] == "bob"
    assert all(json.loads(x)["memory_id"] == records[0]["id"] for x in lines if json.loads(x)["type"] == "event")


def test_import_id_clash_with_other_content_is_a_conflict(memory_factory):
    db1, db2 = memory_factory("db1"), memory_factory("db2")
    _populate(db1)
    lines = _export(db1)
    db2.import_jsonl(lines)
    before = _export(db2)

    tampered = []
    for line in lines:
        item = json.loads(line)
        if item["type"] == "record" and item["user_id"] == "bob":
            item["content"] = "something else entirely"
        tampered.append(json.dumps(item, ensure_ascii=False))
    with pytest.raises(ConflictError):
        db2.import_jsonl(tampered)
    assert _export(db2) == before  # nothing half-imported


def test_keyword_search_finds_a_small_scope_among_many_other_matches(memory_factory):
    """A user whose matches are outranked by thousands of other users' matches still gets all of
    theirs, best first (stores may rank globally and filter, but must not lose visible rows)."""
    m = memory_factory()
    m.add([f"the red kite flew over hill {i}" for i in range(400)], user_id="crowd")
    mine = m.add(["a kite", "kite and a very long sentence about nothing much at all today", "no match here"],
                 user_id="me")
    spec = ReadSpec(Scope(user_id="me"))
    ranked = m.store.text_search(spec, ["kite"], 10)
    assert [s.ref for s in ranked] and len(ranked) == 2
    records = m.store.fetch([s.ref for s in ranked], spec)
    assert [records[s.ref].id for s in ranked] == [mine[0].id, mine[1].id]  # shorter match ranks first
    assert all(s.score > 0 for s in ranked)
    crowd = m.store.text_search(ReadSpec(Scope(user_id="crowd")), ["kite"], 5)
    assert len(crowd) == 5
