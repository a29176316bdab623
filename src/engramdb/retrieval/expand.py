"""Query-time expansions over fused candidates (no index changes, so fully incremental).

- Session boost (coarse-to-fine, as in HCAM): a memory's score grows with the
  total score its session collected among the top candidates. Answers tend
  to cluster in the one or two sessions a question is about.
- Temporal contiguity (as in EM-LLM): the turns right before and after a
  strong hit come along with a decayed score, because a question and its
  answer, or a statement and its elaboration, sit in adjacent turns.
"""

from __future__ import annotations

from engramdb.core.ports import ReadSpec, Store

Scores = dict[int, tuple[float, list[str]]]


def session_boost(store: Store, scores: Scores, *, weight: float, top: int) -> Scores:
    """score' = (score + weight * session_mass / best_session_mass * best_score) / (1 + weight)."""
    if weight <= 0 or not scores:
        return scores
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]
    sessions = store.sessions([ref for ref, _ in ranked])
    mass: dict[str, float] = {}
    for ref, (score, _) in ranked:
        if ref in sessions:
            mass[sessions[ref]] = mass.get(sessions[ref], 0.0) + score
    if not mass:
        return scores
    best_mass = max(mass.values())
    best = ranked[0][1][0]
    all_sessions = store.sessions(list(scores))
    out: Scores = {}
    for ref, (score, sources) in scores.items():
        bonus = mass.get(all_sessions.get(ref, ""), 0.0) / best_mass * best
        out[ref] = ((score + weight * bonus) / (1 + weight), sources)
    return out


def neighbours(store: Store, spec: ReadSpec, scores: Scores, *, top: int, width: int, decay: float) -> Scores:
    """Add the ±``width`` session neighbours of the ``top`` hits at score * decay^distance."""
    if top <= 0 or width <= 0 or decay <= 0 or not scores:
        return scores
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]
    adjacent = store.adjacent([ref for ref, _ in ranked], spec, width)
    out = dict(scores)
    for ref, (score, _) in ranked:
        for near, offset in adjacent.get(ref, []):
            value = score * decay ** abs(offset)
            if value > out.get(near, (0.0, []))[0]:
                out[near] = (value, [*out.get(near, (0.0, []))[1], "neighbour"])
    return out
