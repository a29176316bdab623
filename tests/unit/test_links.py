"""Follow links: which entities a search follows, and what the expansion adds (on a real SQLite store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engramdb import Memory
from engramdb.core.models import Scope
from engramdb.core.ports import ReadSpec
from engramdb.retrieval import links
from engramdb.retrieval.expand import Scores
from engramdb.retrieval.links import follow_links, link_terms


def test_link_terms_skip_what_the_question_names_and_keep_the_best_score() -> None:
    hits = [("Maria adopted a dog named Biscuit, the vet in Porto said.", 0.9),
            ("Tom said Biscuit and Maria's cat Luna are friends.", 0.4)]
    terms = link_terms(hits, "Where did Maria's dog win a contest?", {"Tom"})
    assert terms == [("biscuit", 0.9), ("porto", 0.9), ("luna", 0.4)]  # Maria is asked about, Tom speaks
    assert link_terms(hits, "Is Biscuit in Porto with Luna?", set()) == [("maria", 0.9)]
    assert link_terms([], "anything", set()) == []


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    mem = Memory(tmp_path / "m.db", embedder="hash", background=False)
    texts = ["Maria adopted a dog named Biscuit.", "Biscuit won the agility contest in Porto.",
             "The weather was grey all week.", *[f"Luna came by on day {i}." for i in range(links.MAX_MENTIONS + 1)]]
    mem.add([{"role": "user", "speaker": "Tom", "content": t} for t in texts], user_id="u", session_id="s")
    mem.add([{"role": "user", "content": "Biscuit is someone else's dog."}], user_id="other", session_id="s")
    yield mem
    mem.close()


def _ref(mem: Memory, spec: ReadSpec, word: str) -> int:
    return mem.store.text_search(spec, [word], 1)[0].ref


def test_follow_links_adds_the_memories_that_share_a_rare_entity(memory: Memory) -> None:
    spec = ReadSpec(Scope("u"))
    adopted, porto, weather = (_ref(memory, spec, w) for w in ("adopted", "porto", "weather"))
    scores: Scores = {adopted: (0.8, ["bm25"]), weather: (0.1, ["bm25"])}
    out = follow_links(memory.store, spec, "Where did Maria's dog win?", scores, {}, weight=0.5, top=1)
    assert out[porto] == (pytest.approx(0.4), ["link"])  # half the score of the hit that named Biscuit
    assert out[adopted] == scores[adopted] and out[weather] == scores[weather]
    assert len(out) == 3  # the other user's Biscuit stays in its own scope
    assert follow_links(memory.store, spec, "dog?", scores, {}, weight=0.0, top=1) == scores
    assert follow_links(memory.store, spec, "dog?", scores, {}, weight=0.5, top=0) == scores


def test_a_link_keeps_a_higher_score_and_skips_common_entities(memory: Memory) -> None:
    spec = ReadSpec(Scope("u"))
    adopted, porto = _ref(memory, spec, "adopted"), _ref(memory, spec, "porto")
    out = follow_links(memory.store, spec, "dog?", {adopted: (0.8, []), porto: (0.7, ["bm25"])}, {},
                       weight=0.5, top=2)
    assert out[porto] == (0.7, ["bm25"])
    luna = _ref(memory, spec, "luna")
    out = follow_links(memory.store, spec, "who came by?", {luna: (0.9, ["bm25"])}, {}, weight=0.5, top=1)
    assert list(out) == [luna]  # Luna is in more than MAX_MENTIONS memories: a topic, not a link
