"""Retrieval metrics over ranked keys (dialogue ids, turn keys, session ids).

A ranked list is what a method returned, best first; it may hold the same key
twice (two records of one turn), and a key then counts once, at its first
rank. ``relevant`` is the question's gold evidence, never empty here: questions
without evidence are excluded by the caller and counted there.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence

from engramdb.core.errors import ValidationError

KS = (1, 3, 5, 10, 20)
BUDGETS = (250, 500, 1000, 2000, 4000)
NDCG_K = 10


def _need(relevant: Collection[str]) -> None:
    if not relevant:
        raise ValidationError("a metric needs at least one relevant item")


def dedupe(keys: Iterable[str]) -> list[str]:
    """Keys in order of first appearance."""
    return list(dict.fromkeys(keys))


def order_by_score(scored: Iterable[tuple[str, float]]) -> list[str]:
    """Keys best first; equal scores are ordered by key so ties never depend on input order."""
    return [key for key, _ in sorted(scored, key=lambda pair: (-pair[1], pair[0]))]


def recall_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Fraction of the relevant items among the top ``k`` hits."""
    _need(relevant)
    return len(set(ranked[:k]) & set(relevant)) / len(set(relevant))


def all_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """1.0 when every relevant item is among the top ``k`` hits, else 0.0."""
    _need(relevant)
    return 1.0 if set(relevant) <= set(ranked[:k]) else 0.0


def any_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """1.0 when at least one relevant item is among the top ``k`` hits."""
    _need(relevant)
    return 1.0 if set(relevant) & set(ranked[:k]) else 0.0


def ndcg_at(ranked: Sequence[str], relevant: Collection[str], k: int = NDCG_K) -> float:
    """Binary-relevance NDCG: a relevant key gains 1/log2(rank + 1) at its first rank only."""
    _need(relevant)
    gold = set(relevant)
    seen: set[str] = set()
    dcg = 0.0
    for rank, key in enumerate(ranked[:k], start=1):
        if key in gold and key not in seen:
            dcg += 1.0 / math.log2(rank + 1)
        seen.add(key)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal


def mrr(ranked: Sequence[str], relevant: Collection[str]) -> float:
    """1 / rank of the first relevant hit (0.0 when none is retrieved)."""
    _need(relevant)
    gold = set(relevant)
    for rank, key in enumerate(ranked, start=1):
        if key in gold:
            return 1.0 / rank
    return 0.0


def set_recall(found: Collection[str], relevant: Collection[str]) -> float:
    _need(relevant)
    return len(set(found) & set(relevant)) / len(set(relevant))


def covers(found: Collection[str], relevant: Collection[str]) -> float:
    _need(relevant)
    return 1.0 if set(relevant) <= set(found) else 0.0


def item_metrics(ranked: Sequence[str], packed: Mapping[int, Collection[str]],
                 relevant: Collection[str]) -> dict[str, float]:
    """Every per-question item metric: recall@k, all@k, NDCG@10, MRR, recall and all within each budget."""
    out: dict[str, float] = {}
    for k in KS:
        out[f"recall@{k}"] = recall_at(ranked, relevant, k)
    for k in KS:
        out[f"all@{k}"] = all_at(ranked, relevant, k)
    out[f"ndcg@{NDCG_K}"] = ndcg_at(ranked, relevant, NDCG_K)
    out["mrr"] = mrr(ranked, relevant)
    for budget, found in sorted(packed.items()):
        out[f"budget_recall@{budget}"] = set_recall(found, relevant)
        out[f"budget_all@{budget}"] = covers(found, relevant)
    return out


def session_metrics(ranked_sessions: Sequence[str], relevant: Collection[str]) -> dict[str, float]:
    """LongMemEval session retrieval: recall_any / recall_all at 5 and 10 distinct sessions."""
    sessions = dedupe(ranked_sessions)
    out: dict[str, float] = {}
    for k in (5, 10):
        out[f"session_any@{k}"] = any_at(sessions, relevant, k)
        out[f"session_all@{k}"] = all_at(sessions, relevant, k)
    return out


def mean_rows(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per-key mean over the rows that have the key (keys keep first-seen order)."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for row in rows:
        for key, value in row.items():
            sums[key] = sums.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
    return {key: sums[key] / counts[key] for key in sums}


def ratio(ours: float | None, baselines: Iterable[float | None]) -> float | None:
    """ours / best baseline, or None when there is nothing to compare with (or the best is 0)."""
    values = [b for b in baselines if b is not None]
    if ours is None or not values or max(values) <= 0:
        return None
    return ours / max(values)
