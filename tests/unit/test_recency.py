"""The knowledge-update re-scorer: which questions are about the present, and the regrouping."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from engramdb.core.ports import Facets
from engramdb.retrieval.expand import Scores
from engramdb.retrieval.recency import current_question, groups, regroup


@pytest.mark.parametrize("query", [
    "Where do I live?",
    "What is my current job?",
    "How many bikes do I have now?",
    "Where do I currently keep my old sneakers?",
    "What am I working on these days?",
    "Do I still have the Toyota?",
    "What is the latest version of my resume?",
    "What type of camera lens did I purchase most recently?",
    "How many pages have I read so far?",
    "What\u2019s my gym schedule?",
    "Where does Melanie live now?",
])
def test_questions_about_the_present(query: str) -> None:
    assert current_question(query)


@pytest.mark.parametrize("query", [
    "Where did I live before?",
    "Where did I live?",
    "What did I say in May?",
    "Where did I live in 2023?",
    "What do I remember from last week?",
    "Where do I live according to what I said 3 days ago?",
    "What car did I use to drive?",
    "What was my job previously?",
    "Which doctor did I see first?",
    "What is it that I did in the past?",
    "What was the amount I was pre-approved for?",
    "Before I bought the gravel bike, how many bikes do I have?",
    "Tell me about dinosaurs",
    "What is Melanie's favourite book?",  # present tense about a third person: a fact, not a state
    "How many videos have I watched in the past few weeks?",  # a count adds up every mention
    "How much have I spent on shoes in total?",
])
def test_questions_about_the_past_or_without_tense(query: str) -> None:
    assert not current_question(query)


def _facets(*specs: tuple[str, int]) -> dict[int, Facets]:
    return {ref: Facets(None, None, datetime(year, 1, 1, tzinfo=UTC), role)
            for ref, (role, year) in enumerate(specs, start=1)}


def _unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_groups_join_near_duplicates_of_one_role_only() -> None:
    facets = _facets(("user", 2023), ("user", 2024), ("assistant", 2024), ("user", 2022))
    vectors = {1: _unit(1, 0, 0), 2: _unit(1, 0.1, 0), 3: _unit(1, 0.1, 0), 4: _unit(0, 1, 0)}
    assert groups([1, 2, 3, 4], facets, vectors, 0.9) == [[1, 2]]
    assert groups([1, 2, 3, 4], facets, vectors, 0.999) == []


def test_groups_are_connected_and_skip_refs_without_vectors() -> None:
    facets = _facets(("user", 2021), ("user", 2022), ("user", 2023), ("user", 2024))
    # 1~2 and 2~3, not 1~3: one group through 2; ref 4 has no vector
    vectors = {1: _unit(1, 0, 0), 2: _unit(1, 1, 0), 3: _unit(0, 1, 0)}
    assert groups([1, 2, 3, 4], facets, vectors, 0.7) == [[1, 2, 3]]


def test_regroup_gives_the_newest_the_best_score_and_demotes_the_older() -> None:
    facets = _facets(("user", 2023), ("user", 2024), ("user", 2022))
    scores: Scores = {1: (0.9, ["bm25"]), 2: (0.6, ["dense"]), 3: (0.5, ["bm25"]), 4: (0.7, ["bm25"])}
    facets[4] = Facets(None, None, datetime(2020, 1, 1, tzinfo=UTC), "user")
    out = regroup(scores, facets, [[1, 2, 3]], weight=0.5)
    assert out[2] == (0.9, ["dense", "newest"])
    assert out[1][0] == pytest.approx(0.6)
    assert out[3][0] == pytest.approx(0.5 / 1.5)
    assert out[4] == scores[4]  # outside every group: untouched
    ranked = sorted(out, key=lambda r: -out[r][0])
    assert ranked[:2] == [2, 4]


def test_regroup_leaves_a_group_said_at_one_time_alone() -> None:
    facets = _facets(("user", 2024), ("user", 2024))
    scores: Scores = {1: (0.9, ["bm25"]), 2: (0.6, ["dense"])}
    assert regroup(scores, facets, [[1, 2]], weight=0.5) == scores


def test_regroup_among_the_newest_the_best_scored_wins() -> None:
    facets = _facets(("user", 2023), ("user", 2024), ("user", 2024))
    scores: Scores = {1: (0.9, ["bm25"]), 2: (0.4, ["dense"]), 3: (0.6, ["dense"])}
    out = regroup(scores, facets, [[1, 2, 3]], weight=1.0)
    assert out[3][0] == 0.9
    assert out[2] == scores[2]  # as new as the winner: not demoted
    assert out[1][0] == pytest.approx(0.45)


def test_counts_are_a_question_of_their_own() -> None:
    from engramdb.retrieval.recency import count_question

    assert count_question("How many Italian restaurants have I tried?")
    assert count_question("How many plants have I bought?")
    assert not count_question("How many plants did I buy in May?")
    assert not count_question("How many cats does Melanie have?")  # not the user's own
    assert not current_question("How many plants have I bought?")  # a count, not a plain state
