"""Memory.add_many: bulk import with the semantics of one add() per batch (on both stores)."""

from __future__ import annotations

import pytest
from tests.support.pg_fixtures import DbFactory

from engramdb import Memory, ValidationError
from engramdb.engine.ingest import Batch


def batches() -> list[Batch]:
    return [
        Batch([{"role": "user", "content": "I moved to Lisbon", "timestamp": "2024-03-02T09:00:00Z"},
               {"role": "assistant", "content": "Welcome!"}], user_id="u", session_id="s1"),
        Batch([{"role": "user", "content": "I adopted a cat"}], user_id="u", session_id="s2",
              metadata={"source": "test"}),
        Batch(["a plain text message"], agent_id="bot"),
    ]


def test_writes_every_batch_in_its_scope_and_reports_progress(db_factory: DbFactory) -> None:
    seen: list[int] = []
    with Memory(db_factory("m"), embedder="hash", background=False) as mem:
        n = mem.add_many(batches(), on_written=lambda b, recs: seen.append(len(recs)))
        assert n == 4 and seen == [2, 1, 1]
        assert [r.content for r in mem.list(user_id="u", session_id="s1")] == ["I moved to Lisbon", "Welcome!"]
        [cat] = mem.list(user_id="u", session_id="s2")
        assert cat.metadata == {"source": "test"}
        assert mem.count(agent_id="bot") == 1
        assert mem.search("cat", user_id="u", k=1).hits[0].record.id == cat.id


def test_same_vectors_as_one_add_per_batch(db_factory: DbFactory) -> None:
    with Memory(db_factory("a"), embedder="hash", background=False) as bulk, \
         Memory(db_factory("b"), embedder="hash", background=False) as one:
        bulk.add_many(batches())
        for b in batches():
            one.add(b.messages, user_id=b.user_id, agent_id=b.agent_id, session_id=b.session_id,
                    metadata=b.metadata or None)
        q = "where did I move"
        assert [h.record.content for h in bulk.search(q, user_id="u").hits] == \
            [h.record.content for h in one.search(q, user_id="u").hits]


def test_an_invalid_batch_anywhere_writes_nothing(db_factory: DbFactory) -> None:
    bad = [*batches(), Batch([{"role": "user", "content": "   "}], user_id="u")]
    with Memory(db_factory("m"), embedder="hash", background=False) as mem:
        with pytest.raises(ValidationError):
            mem.add_many(bad)
        assert mem.count(user_id="u") == 0 and mem.count(agent_id="bot") == 0
    with Memory(db_factory("n"), embedder="hash", background=False) as mem, pytest.raises(ValidationError):
        mem.add_many([Batch([{"content": "no scope"}])])
