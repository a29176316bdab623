"""Query-time expansions: speaker focus, session boost (neighbours are covered in test_search_pipeline)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engramdb.core.ports import Facets
from engramdb.retrieval.expand import (
    addressed_role,
    named_speaker,
    role_focus,
    session_boost,
    speaker_focus,
    without_names,
)

T = datetime(2023, 1, 1, tzinfo=UTC)


def facets(**speakers: tuple[str, str]) -> dict[int, Facets]:
    return {int(k[1:]): Facets(session, speaker, T) for k, (session, speaker) in speakers.items()}


def test_named_speaker_needs_exactly_one_whole_name() -> None:
    f = facets(r1=("s1", "Caroline"), r2=("s1", "Melanie"), r3=("s2", "Jon Snow"))
    assert named_speaker("What does Melanie do to destress?", f) == "Melanie"
    assert named_speaker("How did Caroline help Melanie?", f) is None
    assert named_speaker("What did Jon say?", f) is None
    assert named_speaker("what did jon snow say", f) == "Jon Snow"
    assert named_speaker("Carol ine", f) is None


def test_speaker_focus_scales_others() -> None:
    f = facets(r1=("s1", "Caroline"), r2=("s1", "Melanie"))
    scores = {1: (0.8, ["bm25"]), 2: (0.6, ["bm25"])}
    out = speaker_focus("What does Melanie like?", scores, f, weight=1.0)
    assert out[2][0] == 0.6 and out[1][0] == pytest.approx(0.4)
    assert speaker_focus("What do they like?", scores, f, weight=1.0) == scores


def test_session_boost_lifts_the_dense_session_and_stays_in_range() -> None:
    f = facets(r1=("a", None), r2=("a", None), r3=("b", None))
    scores = {1: (0.5, []), 2: (0.5, []), 3: (0.6, [])}
    out = session_boost(scores, f, weight=1.0, top=3)
    assert out[1][0] > out[3][0]  # session a collected 1.0, b only 0.6
    assert all(0.0 <= s <= 1.0 for s, _ in out.values())
    assert session_boost(scores, f, weight=0.0, top=3) == scores


@pytest.mark.parametrize("query, role", [
    ("How many different doctors did I visit?", "user"),
    ("Where did my sister move?", "user"),
    ("I’m trying to remember the hotel name", "user"),
    ("What did you recommend for the trip?", "assistant"),
    ("What did you suggest for my back pain?", None),  # both: no focus
    ("What does Melanie like?", None),
])
def test_addressed_role(query: str, role: str | None) -> None:
    assert addressed_role(query) == role


def test_role_focus_prefers_the_addressed_role_only_when_both_are_candidates() -> None:
    f = {1: Facets("s", None, T, "user"), 2: Facets("s", None, T, "assistant")}
    scores = {1: (0.5, ["bm25"]), 2: (0.8, ["bm25"])}
    out = role_focus("Which doctor did I see?", scores, f, weight=1.0)
    assert out[1][0] == 0.5 and out[2][0] == pytest.approx(0.4)
    assert role_focus("Which doctor did Ann see?", scores, f, weight=1.0) == scores
    only_user = {1: f[1]}
    assert role_focus("Which doctor did I see?", {1: scores[1]}, only_user, weight=1.0) == {1: scores[1]}
    assert role_focus("Which doctor did I see?", scores, f, weight=0.0) == scores


@pytest.mark.parametrize("query, names, expected", [
    ("What activities does Melanie partake in?", {"Melanie", "Caroline"}, "What activities does partake in?"),
    ("What are melanie's pets called?", {"Melanie"}, "What are pets called?"),
    ("What did Jon Snow tell Gina?", {"Jon Snow", "Gina"}, "What did tell ?"),
    ("Where is Melanieville?", {"Melanie"}, "Where is Melanieville?"),  # whole words only
    ("Melanie", {"Melanie"}, "Melanie"),  # nothing would be left
    ("What is the plan?", set(), "What is the plan?"),
])
def test_without_names(query: str, names: set[str], expected: str) -> None:
    assert without_names(query, names) == expected


def test_dense_query_leaves_out_candidate_speakers_names(tmp_path) -> None:
    from engramdb import Memory

    seen: list[str] = []
    with Memory(tmp_path / "m.db", embedder="hash", background=False) as m:
        m.add([{"speaker": "Melanie", "content": "I signed up for a pottery class"},
               {"speaker": "Caroline", "content": "That sounds fun"}], user_id="u", session_id="s")
        inner = m.embedder.embed_query
        m.embedder.embed_query = lambda text: (seen.append(text), inner(text))[1]  # type: ignore[method-assign]
        m.search("What classes did Melanie take?", user_id="u", k=2)
    assert seen == ["What classes did take?"]
