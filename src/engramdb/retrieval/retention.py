"""Retention: how well a memory is still remembered, and the re-scorer built on it.

The forgetting curve (Ebbinghaus, as MemoryBank uses it), with every quantity in days::

    S  = S0 * (1 + recalls) * (1 + importance)      strength
    dt = (clock - max(written, last_recalled)) / 86400   days since last written or recalled (>= 0)
    R  = exp(-(dt / S))                              retention, in (0, 1]

- ``S0`` (default 30 days): the strength of a memory never recalled and of no particular
  importance; R falls to 0.5 after S0 * ln 2 = 20.8 days and to 0.05 after S0 * ln 20 = 89.9 days.
- ``recalls``: how many searches packed the memory into their context (Memory.search records
  them; ``Memory(track_recalls=False)`` does not). Each one adds S0 * (1 + importance) days.
- ``importance``: ``metadata["importance"]`` when it is a number, clamped to [0, 1]; else 0. An
  important memory lasts up to twice as long.
- ``written``: when the current version was written (system time, ``updated_at``), not when it
  was said (``event_time``): a history imported today is fresh today; archiving it at once because
  its conversations are two years old would forget what the user just gave us. ``clock``: the
  read's system clock (``as_of``, else the time of the read).

MemoryBank's published code computes ``math.exp(-t / 5*S)``, which Python parses as
``exp((-t / 5) * S)``: the stronger a memory, the *faster* it is forgotten, the opposite of the
docstring above that line. Here the division is written ``-(dt / S)`` with S computed first, and
a test checks that R grows with S (and with recalls and importance).
"""

from __future__ import annotations

import math
from datetime import datetime

from engramdb.core.ports import ReadSpec, RecallStats, Store
from engramdb.retrieval.expand import Scores

S0_DAYS = 30.0
DAY_S = 86_400.0


def importance_of(value: object) -> float:
    """``metadata["importance"]`` as a number in [0, 1]; anything else (absent, text, a bool) is 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return 0.0
    return min(1.0, max(0.0, float(value)))


def strength(recalls: int, importance: float, s0_days: float = S0_DAYS) -> float:
    """S in days: S0 * (1 + recalls) * (1 + importance)."""
    return s0_days * (1 + max(0, recalls)) * (1 + importance_of(importance))


def retention(dt_days: float, strength_days: float) -> float:
    """R = exp(-(dt / S)); a negative dt (a clock before the last write or recall) counts as 0."""
    return math.exp(-(max(0.0, dt_days) / strength_days))


def memory_retention(stats: RecallStats, clock: datetime, s0_days: float = S0_DAYS, *,
                     whole_days: bool = False) -> float:
    """R of one memory at ``clock`` (see the module docstring); ``whole_days``: dt rounded down
    to whole days."""
    last = max(stats.written, stats.last_recalled) if stats.last_recalled is not None else stats.written
    dt_days = (clock - last).total_seconds() / DAY_S
    if whole_days:
        dt_days = math.floor(dt_days)
    return retention(dt_days, strength(stats.recalls, importance_of(stats.importance), s0_days))


def retention_focus(store: Store, spec: ReadSpec, scores: Scores, *, weight: float,
                    s0_days: float = S0_DAYS) -> Scores:
    """Scale each candidate by 1 / (1 + weight * (1 - R)): one remembered well (R near 1) keeps its
    score, a nearly forgotten one (R near 0) is scaled by about 1 / (1 + weight). Scores stay in
    [0, 1]. Off at weight 0 (the default: BENCHMARKS.md "Forgetting"), and for reads without a clock.

    Ages count in whole days here: memories written or recalled within the same day stay tied.
    (With ages in seconds, every candidate's R differs by a hair, which re-orders candidates of
    exactly equal score, e.g. the turns of one episode window, by the microseconds between their
    writes and by which of them earlier searches happened to pack: measured on LoCoMo, recall@1
    fell from 0.424 to 0.362 for that alone, and the ranking depended on timing.)"""
    clock = spec.as_of or spec.at
    if weight <= 0 or not scores or clock is None:
        return scores
    stats = store.recall_stats(list(scores))
    out: Scores = {}
    for ref, (score, sources) in scores.items():
        found = stats.get(ref)
        r = memory_retention(found, clock, s0_days, whole_days=True) if found is not None else 1.0
        out[ref] = (score / (1 + weight * (1 - r)), sources)
    return out
