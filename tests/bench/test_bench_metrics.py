"""Metric functions on hand-made rankings with exact expected values."""

from __future__ import annotations

import math

import pytest

from engramdb.bench.metrics import (
    all_at,
    any_at,
    covers,
    dedupe,
    item_metrics,
    mean_rows,
    mrr,
    ndcg_at,
    order_by_score,
    ratio,
    recall_at,
    session_metrics,
    set_recall,
)
from engramdb.core.errors import ValidationError

RANKED = ["D1:1", "D2:5", "D1:3", "D4:2", "D9:9"]


def test_recall_all_any_at_k() -> None:
    gold = {"D2:5", "D4:2"}
    assert recall_at(RANKED, gold, 1) == 0.0
    assert recall_at(RANKED, gold, 2) == 0.5
    assert recall_at(RANKED, gold, 4) == 1.0
    assert recall_at(RANKED, gold, 100) == 1.0  # k beyond the list
    assert all_at(RANKED, gold, 3) == 0.0 and all_at(RANKED, gold, 4) == 1.0
    assert any_at(RANKED, gold, 1) == 0.0 and any_at(RANKED, gold, 2) == 1.0


def test_ndcg_exact_values() -> None:
    # relevant at ranks 2 and 4 of 2 relevant items
    gold = {"D2:5", "D4:2"}
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at(RANKED, gold, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at(["D2:5", "D4:2", "x"], gold, 10) == pytest.approx(1.0)
    assert ndcg_at(["x", "y"], gold, 10) == 0.0
    # more relevant items than k: the ideal is capped at k
    assert ndcg_at(["a", "b"], {"a", "b", "c"}, 2) == pytest.approx(1.0)


def test_mrr() -> None:
    assert mrr(RANKED, {"D1:3"}) == pytest.approx(1 / 3)
    assert mrr(RANKED, {"D1:3", "D2:5"}) == 0.5
    assert mrr(RANKED, {"nope"}) == 0.0


def test_duplicate_keys_count_once() -> None:
    ranked = ["a", "a", "b", "a"]
    assert recall_at(ranked, {"a", "c"}, 2) == 0.5
    assert recall_at(ranked, {"a", "b"}, 2) == 0.5  # the duplicate took a slot of the top 2
    # 'a' gains only at rank 1: DCG = 1 + 1/log2(4); ideal for 2 relevant = 1 + 1/log2(3)
    assert ndcg_at(ranked, {"a", "b"}, 10) == pytest.approx((1 + 0.5) / (1 + 1 / math.log2(3)))
    assert ndcg_at(["a", "a", "a"], {"a"}, 10) == pytest.approx(1.0)  # never above 1
    assert recall_at(RANKED, ["D1:1", "D1:1"], 1) == 1.0  # duplicate evidence ids are one item
    assert dedupe(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_empty_evidence_is_refused() -> None:
    for fn in (lambda: recall_at(RANKED, set(), 5), lambda: all_at(RANKED, [], 5), lambda: mrr(RANKED, ()),
               lambda: ndcg_at(RANKED, set()), lambda: set_recall({"a"}, set()), lambda: covers({"a"}, [])):
        with pytest.raises(ValidationError):
            fn()


def test_ties_are_broken_by_key_not_input_order() -> None:
    assert order_by_score([("b", 0.5), ("a", 0.5), ("c", 0.9)]) == ["c", "a", "b"]
    assert order_by_score([("a", 0.5), ("b", 0.5), ("c", 0.9)]) == ["c", "a", "b"]


def test_item_metrics_and_budgets() -> None:
    row = item_metrics(RANKED, {250: ["D9:9"], 1000: ["D9:9", "D2:5", "D1:1"]}, {"D2:5", "D9:9"})
    assert row["recall@1"] == 0.0 and row["recall@3"] == 0.5 and row["recall@5"] == 1.0
    assert row["all@3"] == 0.0 and row["all@5"] == 1.0
    assert row["mrr"] == 0.5
    assert row["budget_recall@250"] == 0.5 and row["budget_all@250"] == 0.0
    assert row["budget_recall@1000"] == 1.0 and row["budget_all@1000"] == 1.0
    assert list(row)[:5] == ["recall@1", "recall@3", "recall@5", "recall@10", "recall@20"]


def test_session_metrics_use_distinct_sessions_in_first_seen_order() -> None:
    sessions = ["s1", "s1", "s2", "s3", "s1", "s4", "s5", "s6"]  # distinct: s1 s2 s3 s4 s5 s6
    row = session_metrics(sessions, {"s1", "s6"})
    assert row == {"session_any@5": 1.0, "session_all@5": 0.0, "session_any@10": 1.0, "session_all@10": 1.0}


def test_mean_rows_and_ratio() -> None:
    assert mean_rows([{"a": 1.0, "b": 0.0}, {"a": 0.0}, {}]) == {"a": 0.5, "b": 0.0}
    assert ratio(0.6, [0.3, 0.5, None]) == pytest.approx(1.2)
    assert ratio(0.6, [0.0]) is None and ratio(None, [0.5]) is None and ratio(0.5, []) is None
