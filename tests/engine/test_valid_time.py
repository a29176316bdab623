"""Valid time and expiry: a superseded memory stays true for the period it held (valid_at), as
memory knew it (as_of); a fact's slot travels with it; an expired memory is skipped at once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from engramdb import Memory
from engramdb.core.errors import ValidationError


def test_valid_at_sees_a_superseded_memory_for_the_time_it_held(mem: Memory) -> None:
    [lisbon] = mem.add("I live in Lisbon", user_id="sam", kind="fact", timestamp="2023-03-01",
                       subject="user", attribute="home city")
    berlin = mem.supersede(lisbon.id, "I live in Berlin", timestamp="2024-05-01")
    assert [r.content for r in mem.list(user_id="sam")] == ["I live in Berlin"]
    in_2023 = mem.list(user_id="sam", valid_at="2023-12-31")
    assert [r.content for r in in_2023] == ["I live in Lisbon"]
    assert in_2023[0].valid_to == datetime(2024, 5, 1, tzinfo=UTC)
    assert [r.content for r in mem.list(user_id="sam", valid_at="2024-06-01")] == ["I live in Berlin"]
    assert mem.list(user_id="sam", valid_at="2022-01-01") == []
    hits = mem.search("where do I live", user_id="sam", valid_at="2023-12-31").hits
    assert [h.record.content for h in hits] == ["I live in Lisbon"]
    # what memory knew before the supersession: Lisbon, with no end yet
    before = mem.list(user_id="sam", as_of=berlin.created_at - timedelta(microseconds=1), valid_at="2024-06-01")
    assert [r.content for r in before] == ["I live in Lisbon"]
    [event] = [e for e in mem.history(lisbon.id) if e.action.value == "supersede"]
    assert event.after is not None and event.after["valid_to"].startswith("2024-05-01")


def test_slot_and_expiry_round_trip_through_export(mem: Memory, tmp_path) -> None:
    mem.add("Prefers aisle seats", user_id="sam", kind="fact", subject="user", attribute="seat preference",
            expires_at="2099-01-01")
    out = tmp_path / "dump.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        mem.export_jsonl(fh, user_id="sam")
    with Memory(tmp_path / "copy.db", embedder="hash") as copy:
        copy.import_jsonl(out.read_text(encoding="utf-8"))
        [rec] = copy.list(user_id="sam")
        assert (rec.subject, rec.attribute) == ("user", "seat preference")
        assert rec.expires_at == datetime(2099, 1, 1, tzinfo=UTC)


def test_an_expired_memory_is_skipped_by_every_read(mem: Memory) -> None:
    mem.add("the door code is 4711 this week", user_id="sam", ttl=1.5)
    [keep] = mem.add("the door is blue", user_id="sam")
    written = datetime.now(UTC)  # both written, the first not yet expired
    mem.flush()
    assert len(mem.search("door code", user_id="sam").hits) == 2
    time.sleep(1.6)
    assert [h.record.id for h in mem.search("door code", user_id="sam").hits] == [keep.id]
    assert [r.id for r in mem.list(user_id="sam")] == [keep.id]
    # memory as it was before the expiry still shows it (a moment fixed at the writes, not from now:
    # the reads above may take a while on a loaded machine)
    earlier = mem.list(user_id="sam", as_of=written)
    assert len(earlier) == 2


@pytest.mark.parametrize("kwargs", [{"subject": "user"}, {"attribute": "home"}, {"ttl": -1}, {"ttl": True},
                                    {"ttl": 5, "expires_at": "2099-01-01"}, {"subject": "x" * 201, "attribute": "a"}])
def test_bad_slots_and_expiries_are_refused(mem: Memory, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        mem.add("text", user_id="sam", **kwargs)  # type: ignore[arg-type]
    assert mem.list(user_id="sam") == []


def test_the_profile_comes_first_in_the_context_when_it_fits(tmp_path) -> None:
    with Memory(tmp_path / "p.db", embedder="hash", background=False, facts=True) as mem:
        mem.add([{"role": "user", "content": "I live in Lisbon and I work at Google", "timestamp": "2023-03-01"}],
                user_id="sam")
        mem.add([{"role": "user", "content": "I just moved to Berlin!", "timestamp": "2024-05-01"}], user_id="sam")
        result = mem.search("what is my job", user_id="sam", budget_tokens=300)
        first = result.context.splitlines()[0]
        assert first == "[profile] The user works at Google. The user lives in Berlin."
        assert result.context_tokens <= 300
        then = mem.search("what is my job", user_id="sam", budget_tokens=300, valid_at="2023-06-01")
        assert "lives in Lisbon" in then.context.splitlines()[0]
        assert not mem.search("job", user_id="sam", budget_tokens=60).context.startswith("[profile]")  # > 1/8
        assert not mem.search("job", user_id="sam", budget_tokens=300, profile=False).context.startswith("[profile]")
