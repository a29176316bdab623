"""The public API: adding, searching into a token budget, async parity, the facade's names."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

import engramdb
from engramdb import AsyncMemory, Kind, Memory
from engramdb.retrieval.tokens import count_tokens

CONVERSATION = [
    {"role": "user", "name": "Caroline",
     "content": "I went to an LGBTQ support group yesterday and it was so powerful.",
     "timestamp": "1:56 pm on 8 May, 2023"},
    {"role": "user", "name": "Melanie", "content": "That's amazing! I'm painting a sunrise over the lake this week.",
     "timestamp": "2:01 pm on 8 May, 2023"},
    {"role": "user", "name": "Caroline", "content": "I am researching adoption agencies for my future family.",
     "timestamp": "2023/05/20 (Sat) 02:21"},
    {"role": "user", "name": "Melanie", "content": "We took the kids camping at the beach last weekend.",
     "timestamp": "2023-06-03T18:30:00Z"},
    {"role": "user", "name": "Caroline", "content": "My counseling course on mental health starts in July.",
     "timestamp": 1686830400},  # 2023-06-15T12:00:00Z
]


# ---- add ---------------------------------------------------------------------


def test_add_text(mem):
    [r] = mem.add("Remember to renew the passport", user_id="u")
    assert r.kind is Kind.NOTE and r.content == "Remember to renew the passport"
    assert r.scope.user_id == "u" and r.version == 1 and r.superseded_at is None
    assert len(r.id) == 26 and r.content_hash
    assert mem.get(r.id) == r


def test_add_text_with_role_speaker_kind(mem):
    [r] = mem.add("prefers window seats", user_id="u", kind="profile", role="user", speaker="Ann")
    assert (r.kind, r.role, r.speaker) == (Kind.PROFILE, "user", "Ann")


def test_add_messages(mem):
    recs = mem.add(CONVERSATION, user_id="u", session_id="s1", metadata={"source": "locomo"})
    assert len(recs) == 5
    assert all(r.kind is Kind.TURN for r in recs)
    assert [r.speaker for r in recs] == ["Caroline", "Melanie", "Caroline", "Melanie", "Caroline"]
    assert all(r.role == "user" for r in recs)
    assert recs[0].event_time == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert recs[2].event_time == datetime(2023, 5, 20, 2, 21, tzinfo=UTC)
    assert recs[3].event_time == datetime(2023, 6, 3, 18, 30, tzinfo=UTC)
    assert recs[4].event_time == datetime(2023, 6, 15, 12, 0, tzinfo=UTC)
    assert all(r.metadata == {"source": "locomo"} for r in recs)
    assert mem.count(user_id="u", session_id="s1") == 5
    assert [r.id for r in mem.list(user_id="u")] == [r.id for r in recs]  # event-time order


def test_add_single_message_dict_and_metadata_merge(mem):
    [r] = mem.add({"role": "assistant", "content": "Noted.", "metadata": {"turn": 3, "topic": "x"}},
                  user_id="u", metadata={"topic": "default", "lang": "en"})
    assert r.role == "assistant" and r.kind is Kind.TURN
    assert r.metadata == {"topic": "x", "lang": "en", "turn": 3}
    assert mem.get(r.id).metadata == {"topic": "x", "lang": "en", "turn": 3}


def test_add_timestamp_argument(mem):
    [r] = mem.add("call mum", user_id="u", timestamp="2024-02-29T23:59:00+02:00")
    assert r.event_time == datetime(2024, 2, 29, 21, 59, tzinfo=UTC)
    before = datetime.now(UTC)
    [now] = mem.add("no timestamp given", user_id="u")
    assert now.event_time >= before


def test_metadata_round_trips_through_storage(mem):
    meta = {"nested": {"a": [1, 2.5, None, True]}, "unicode": "Zürich 東京 🚀", "quote": "it's \"x\""}
    [r] = mem.add("metadata carrier", user_id="u", metadata=meta)
    assert mem.get(r.id).metadata == meta


def test_add_accepts_utf8_bytes(mem):
    [r] = mem.add("café crème".encode(), user_id="u")
    assert r.content == "café crème"


# ---- search --------------------------------------------------------------------


@pytest.fixture
def convo(mem):
    mem.add(CONVERSATION, user_id="u", session_id="s1")
    for i in range(30):
        mem.add(f"Filler memory number {i} about weather, groceries and chores around the house.",
                user_id="u", timestamp=f"2023-07-{1 + i % 28:02d}T09:00:00Z")
    return mem


def test_search_k(convo):
    res = convo.search("adoption agencies", user_id="u", k=3)
    assert len(res.hits) == 3
    assert res.hits[0].record.content.startswith("I am researching adoption agencies")
    assert res.budget_tokens is None
    assert len(convo.search("adoption", user_id="u").hits) == 10  # default k


@pytest.mark.parametrize("budget", [8, 20, 40, 64, 150, 400, 2000])
def test_budget_is_never_exceeded(convo, budget):
    res = convo.search("what is Caroline doing about adoption and family", user_id="u", budget_tokens=budget)
    assert res.context_tokens == count_tokens(res.context)
    assert res.context_tokens <= budget
    assert res.budget_tokens == budget
    if budget >= 150:
        assert len(res.packed) >= 2
    assert all(h.record.content in res.context for h in res.packed)
    assert bool(res.context) == bool(res.packed)


def test_small_budget_still_gets_the_best_memory(convo):
    res = convo.search("adoption agencies", user_id="u", budget_tokens=40)
    assert [h.record.content for h in res.packed] == [
        "I am researching adoption agencies for my future family."]


def test_k_and_budget_together(convo):
    res = convo.search("Caroline", user_id="u", k=4, budget_tokens=1000)
    assert len(res.hits) == 4
    assert {h.record.id for h in res.packed} <= {h.record.id for h in res.hits}
    assert res.context_tokens <= 1000


def test_context_is_chronological_with_dates_and_speakers(convo):
    res = convo.search("Caroline Melanie adoption painting camping counseling", user_id="u",
                       session_id="s1", budget_tokens=500)
    assert len(res.packed) == 5
    times = [h.record.event_time for h in res.packed]
    assert times == sorted(times)
    text = res.context
    # every memory appears as "Speaker: content", in chronological order, after its date
    positions = [text.index(f"{h.record.speaker}: {h.record.content}") for h in res.packed]
    assert positions == sorted(positions)
    for pos, h in zip(positions, res.packed, strict=True):
        date = h.record.event_time.strftime("%Y-%m-%d (%a) %H:%M")
        assert date in text[:pos]
    assert "2023-05-20 (Sat) 02:21" in text and "2023-06-15 (Thu) 12:00" in text
    assert text.index("2023-05-08 (Mon) 13:56") < text.index("Caroline: I went to an LGBTQ")
    assert text.index("Melanie: We took the kids camping") < text.index("Caroline: My counseling course")


def test_context_tags_non_turn_kinds(mem):
    mem.add("Caroline is vegetarian", user_id="u", kind="fact", timestamp="2023-01-01")
    res = mem.search("vegetarian", user_id="u", budget_tokens=100)
    assert "(fact) Caroline is vegetarian" in res.context
    assert res.context.index("2023-01-01 (Sun) 00:00") < res.context.index("(fact) Caroline is vegetarian")


def test_search_on_empty_scope(mem):
    res = mem.search("anything at all", user_id="nobody", budget_tokens=100)
    assert res.hits == () and res.packed == () and res.context == "" and res.context_tokens == 0


def test_result_to_dict_is_json_ready(convo):
    import json

    data = convo.search("adoption", user_id="u", k=2, budget_tokens=200).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert len(data["hits"]) == 2 and data["budget_tokens"] == 200
    assert set(data["packed_ids"]) <= {h["id"] for h in data["hits"]}


# ---- async parity ------------------------------------------------------------------


def _normalise(value):
    """Drop what legitimately differs between two runs (ids and wall-clock times)."""
    if isinstance(value, engramdb.SearchResult):
        return (value.context, value.context_tokens, [(h.record.content, round(h.score, 9), h.sources)
                                                      for h in value.hits])
    if isinstance(value, engramdb.MemoryRecord):
        return (value.content, value.kind, value.version, value.metadata, value.speaker,
                value.superseded_at is not None, value.event_time if value.kind is Kind.TURN else None)
    if isinstance(value, engramdb.HistoryEvent):
        return value.action
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _scenario_steps():
    """(method, args, kwargs) steps; a string "$N" argument means the id of step N's first record."""
    return [
        ("add", (CONVERSATION,), {"user_id": "u", "session_id": "s1"}),
        ("add", ("Caroline's favourite colour is purple",), {"user_id": "u", "kind": "fact"}),
        ("add", ("unrelated note for someone else",), {"user_id": "v"}),
        ("search", ("adoption family",), {"user_id": "u", "k": 4}),
        ("search", ("Caroline",), {"user_id": "u", "budget_tokens": 60}),
        ("list", (), {"user_id": "u", "filters": {"kind": "turn"}}),
        ("update", ("$1",), {"content": "Caroline's favourite colour is teal"}),
        ("get", ("$1",), {}),
        ("supersede", ("$1", "Caroline's favourite colour is orange"), {}),
        ("list", (), {"user_id": "u", "include_superseded": True}),
        ("history", ("$1",), {}),
        ("count", (), {"user_id": "u"}),
        ("delete", ("$2",), {"user_id": "v"}),
        ("count", (), {"user_id": "v"}),
        ("delete_scope", (), {"user_id": "u", "session_id": "s1"}),
        ("list", (), {"user_id": "u"}),
    ]


def _resolve(args, results):
    return tuple(results[int(a[1:])][0].id if isinstance(a, str) and a.startswith("$") else a for a in args)


def _run_sync(path: Path) -> list:
    results: list = []
    with Memory(path, embedder="hash", background=False) as m:
        for name, args, kwargs in _scenario_steps():
            results.append(getattr(m, name)(*_resolve(args, results), **kwargs))
    return [_normalise(r) for r in results]


async def _run_async(path: Path) -> list:
    results: list = []
    async with AsyncMemory(path, embedder="hash", background=False) as m:
        for name, args, kwargs in _scenario_steps():
            results.append(await getattr(m, name)(*_resolve(args, results), **kwargs))
    return [_normalise(r) for r in results]


def test_async_parity(tmp_path):
    sync_out = _run_sync(tmp_path / "sync.db")
    async_out = asyncio.run(_run_async(tmp_path / "async.db"))
    assert sync_out == async_out
    # the scenario really ran: 5 turns + the current fact; v emptied; s1 wiped
    assert sync_out[11] == 6 and sync_out[13] == 0 and sync_out[14] == 5
    assert [r[0] for r in sync_out[-1]] == ["Caroline's favourite colour is orange"]
    assert sync_out[10] == [engramdb.core.models.Action.ADD, engramdb.core.models.Action.UPDATE,
                            engramdb.core.models.Action.SUPERSEDE]


def test_async_errors_propagate(tmp_path):
    async def go():
        async with AsyncMemory(tmp_path / "a.db", embedder="hash", background=False) as m:
            with pytest.raises(engramdb.NotFoundError):
                await m.get("missing")
            with pytest.raises(engramdb.ScopeError):
                await m.add("no scope")

    asyncio.run(go())


def test_async_memory_has_no_logic_of_its_own():
    """Every public AsyncMemory coroutine has a same-named Memory method."""
    public_async = {n for n in dir(AsyncMemory) if not n.startswith("_") and n != "sync"}
    assert public_async <= {n for n in dir(Memory) if not n.startswith("_")}


# ---- the facade ----------------------------------------------------------------------


def test_public_names():
    assert set(engramdb.__all__) == {
        "AsyncMemory", "Memory",
        "MemoryRecord", "Scope", "Hit", "SearchResult", "HistoryEvent", "Kind",
        "EngramError", "ValidationError", "ScopeError", "NotFoundError", "ConflictError",
        "ImportFormatError", "StoreError", "EmbedderError", "ConfigError",
        "__version__",
    }
    assert len(engramdb.__all__) == len(set(engramdb.__all__))
    for name in engramdb.__all__:
        assert getattr(engramdb, name) is not None


def test_error_tree():
    for name in engramdb.__all__:
        obj = getattr(engramdb, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, engramdb.EngramError)
    assert issubclass(engramdb.ScopeError, engramdb.ValidationError)
    assert issubclass(engramdb.ImportFormatError, engramdb.ValidationError)


def test_async_reindex(tmp_path):
    async def go():
        async with AsyncMemory(tmp_path / "r.db", embedder="hash", background=False) as m:
            await m.add("We went camping last week. It rained every single day of it.", user_id="u")
            return await m.reindex(user_id="u")

    assert asyncio.run(go()) == 1
