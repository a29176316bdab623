"""Knowledge updates over raw turns: a question about the present gets the newest answer first,
a dated or past question keeps the older one, and valid_at anchors "newest" to what was known."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from engramdb import Memory
from engramdb.retrieval.search import SearchParams


@pytest.fixture
def moved(tmp_path: Path) -> Iterator[Memory]:
    mem = Memory(tmp_path / "mem.db", embedder="hash", background=False)
    mem.add([{"role": "user", "content": "I live in Lisbon."}], user_id="u", session_id="a",
            timestamp="2023-03-01T10:00:00Z")
    mem.add([{"role": "assistant", "content": "Lisbon is lovely in spring."}], user_id="u", session_id="a",
            timestamp="2023-03-01T10:00:00Z")
    mem.add([{"role": "user", "content": "I moved to Berlin. I live in Berlin now."}], user_id="u",
            session_id="b", timestamp="2024-03-01T10:00:00Z")
    mem.add([{"role": "user", "content": "My favourite food is pasta."}], user_id="u", session_id="c",
            timestamp="2024-04-01T10:00:00Z")
    yield mem
    mem.close()


def _top(mem: Memory, query: str, **kwargs: str) -> str:
    return mem.search(query, user_id="u", k=3, **kwargs).hits[0].record.content


def test_a_present_question_ranks_the_newest_answer_first(moved: Memory) -> None:
    assert _top(moved, "where do I live?") == "I moved to Berlin. I live in Berlin now."
    moved.search_params = replace(SearchParams(), update_weight=0.0)
    assert _top(moved, "where do I live?") == "I live in Lisbon."  # what relevance alone ranks first


def test_a_dated_question_keeps_the_time_focus(moved: Memory) -> None:
    assert _top(moved, "where did I live in 2023?") == "I live in Lisbon."


def test_valid_at_makes_the_newest_known_at_that_time_win(moved: Memory) -> None:
    result = moved.search("where do I live?", user_id="u", k=3, valid_at="2023-12-31")
    assert result.hits[0].record.content == "I live in Lisbon."
    assert all("Berlin" not in h.record.content for h in result.hits)


def test_the_older_answer_stays_in_the_context(moved: Memory) -> None:
    result = moved.search("where do I live?", user_id="u", budget_tokens=200)
    assert "Lisbon" in result.context and "Berlin" in result.context
