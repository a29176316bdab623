"""Rank fusion of candidate lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engramdb.core.ports import Scored

RRF_K = 60
SCALED_BY_TOP = {"bm25"}  # lists scaled by their best score; the others min-max


def rrf(lists: Mapping[str, Sequence[Scored]], *, k: int = RRF_K,
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


def normalised_sum(
    lists: Mapping[str, Sequence[Scored]], weights: dict[str, float]
) -> dict[int, tuple[float, list[str]]]:
    """Score fusion: each list's scores scaled into [0, 1], then a weighted sum.

    BM25 scores are divided by the list's best score (no natural floor);
    cosine scores are min-max scaled over the candidate list. Unlike RRF this
    keeps how *much* better one candidate is than the next, which matters when
    one retriever is much weaker than the other (dense here, see BENCHMARKS.md).
    The result is divided by the sum of weights, so it stays in [0, 1].
    """
    total = sum(weights.get(name, 1.0) for name in lists) or 1.0
    out: dict[int, tuple[float, list[str]]] = {}
    for name, items in lists.items():
        if not items:
            continue
        w = weights.get(name, 1.0) / total
        top, low = items[0].score, items[-1].score
        for item in items:
            if name in SCALED_BY_TOP:
                scaled = item.score / top if top > 0 else 0.0
            else:
                scaled = (item.score - low) / (top - low) if top > low else 1.0
            score, sources = out.get(item.ref, (0.0, []))
            out[item.ref] = (score + w * scaled, [*sources, name])
    return out
