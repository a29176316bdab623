"""Rank fusion of candidate lists."""

from __future__ import annotations

from collections.abc import Sequence

from engramdb.core.ports import Scored

RRF_K = 60


def rrf(lists: dict[str, Sequence[Scored]], *, k: int = RRF_K,
        weights: dict[str, float] | None = None) -> list[tuple[int, float, tuple[str, ...]]]:
    """Reciprocal-rank fusion of candidate refs.

    Returns (candidate, score, sources) best first; the score is normalised to
    [0, 1] by the best score any item could reach (rank 1 in every list).
    """
    weights = weights or {}
    total: dict[int, float] = {}
    sources: dict[int, list[str]] = {}
    for name, items in lists.items():
        w = weights.get(name, 1.0)
        for rank, item in enumerate(items, start=1):
            key = item.ref
            total[key] = total.get(key, 0.0) + w / (k + rank)
            sources.setdefault(key, []).append(name)
    ceiling = sum(weights.get(name, 1.0) for name in lists) / (k + 1) or 1.0
    ranked = sorted(total, key=lambda key: (-total[key], key))
    return [(key, total[key] / ceiling, tuple(sources[key])) for key in ranked]
