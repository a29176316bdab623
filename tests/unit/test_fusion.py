"""Reciprocal-rank fusion, checked against hand-computed values."""

from __future__ import annotations

import pytest

from engramdb.core.ports import Scored
from engramdb.retrieval.fusion import RRF_K, rrf


def ranked(*refs: int) -> list[Scored]:
    return [Scored(ref, 100.0 - i) for i, ref in enumerate(refs)]


def test_two_lists_hand_computed():
    # bm25: 1, 2   dense: 2, 3   (k = 60)
    # 1: 1/61            2: 1/62 + 1/61          3: 1/62
    # ceiling (rank 1 in both lists) = 2/61
    out = rrf({"bm25": ranked(1, 2), "dense": ranked(2, 3)})
    assert [ref for ref, _, _ in out] == [2, 1, 3]
    scores = {ref: score for ref, score, _ in out}
    assert scores[2] == pytest.approx((1 / 62 + 1 / 61) / (2 / 61))  # 0.99193548...
    assert scores[1] == pytest.approx(0.5)
    assert scores[3] == pytest.approx((1 / 62) / (2 / 61))  # 0.49193548...
    assert scores[2] == pytest.approx(0.9919354838709677)
    sources = {ref: src for ref, _, src in out}
    assert sources == {1: ("bm25",), 2: ("bm25", "dense"), 3: ("dense",)}


def test_rank_one_everywhere_scores_exactly_one():
    out = rrf({"a": ranked(7, 8), "b": ranked(7), "c": ranked(7, 9)})
    assert out[0][0] == 7 and out[0][1] == pytest.approx(1.0)
    assert all(0.0 < score <= 1.0 for _, score, _ in out)


def test_only_rank_matters_not_raw_scores():
    a = rrf({"x": [Scored(1, 1000.0), Scored(2, 0.001)]})
    b = rrf({"x": [Scored(1, -5.0), Scored(2, -6.0)]})
    assert a == b


def test_weights_hand_computed():
    # dense weighted 3: ref 1 (bm25 rank 1) = 1/61, ref 2 (dense rank 1) = 3/61; ceiling = 4/61
    out = rrf({"bm25": ranked(1), "dense": ranked(2)}, weights={"dense": 3.0})
    assert [(ref, round(score, 12)) for ref, score, _ in out] == [(2, 0.75), (1, 0.25)]


def test_custom_k():
    out = rrf({"a": ranked(1, 2, 3)}, k=0)
    assert [round(score, 12) for _, score, _ in out] == [1.0, 0.5, round(1 / 3, 12)]


def test_ties_break_deterministically_by_ref():
    out = rrf({"a": ranked(5, 9), "b": ranked(9, 5)})
    assert [ref for ref, _, _ in out] == [5, 9]
    assert out[0][1] == out[1][1]


def test_empty_inputs():
    assert rrf({"a": [], "b": []}) == []
    assert rrf({}) == []
    assert RRF_K == 60
