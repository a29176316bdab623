"""Links end to end: a question about Maria's dog reaches the turn about Biscuit through the link."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from engramdb import Memory
from engramdb.retrieval.search import SearchParams

SESSIONS = [
    ("a", "2023-03-01T10:00:00Z", [("Maria", "I adopted a dog named Biscuit!"),
                                   ("Tom", "Congrats, what a lovely name.")]),
    ("b", "2023-04-01T10:00:00Z", [("Tom", "I did not win the chess contest at school."),
                                   ("Maria", "Oh no, there is always next year.")]),
    ("c", "2023-05-01T10:00:00Z", [("Tom", "I want to win a contest someday, any contest."),
                                   ("Maria", "You will win one, I am sure.")]),
    ("d", "2023-06-01T10:00:00Z", [("Tom", "Guess what: Biscuit won the agility contest in Porto!"),
                                   ("Maria", "So proud of him.")]),
]
QUESTION = "Where did Maria's dog win a contest?"
PORTO = "Guess what: Biscuit won the agility contest in Porto!"


@pytest.fixture
def mem(tmp_path: Path) -> Iterator[Memory]:
    mem = Memory(tmp_path / "mem.db", embedder="hash", background=False)
    for session, at, turns in SESSIONS:
        mem.add([{"role": "user", "speaker": who, "content": text} for who, text in turns], user_id="u",
                session_id=session, timestamp=at)
    yield mem
    mem.close()


def test_the_second_hop_comes_through_the_link(mem: Memory) -> None:
    mem.search_params = replace(SearchParams(), link_weight=0.0)
    assert PORTO not in [h.record.content for h in mem.search(QUESTION, user_id="u", k=4).hits]
    mem.search_params = replace(SearchParams(), link_weight=0.7)
    hits = {h.record.content: h for h in mem.search(QUESTION, user_id="u", k=4).hits}
    assert PORTO in hits and "link" in hits[PORTO].sources
    assert "Porto" in mem.search(QUESTION, user_id="u", budget_tokens=120).context
    mem.search_params = replace(SearchParams(), link_weight=0.0)
    assert "Porto" not in mem.search(QUESTION, user_id="u", budget_tokens=120).context
