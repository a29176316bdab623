"""Query-time expansions over fused candidates (no index changes, so fully incremental).

- Speaker focus: when a question names exactly one of the people whose words
  are among the candidates ("What does Melanie do to destress?"), that
  person's own statements are preferred over what others said about them.
- Role focus: a question in the first person ("What did I buy?", "my
  doctor") is about what the user said, so the user's own turns are
  preferred over the assistant's; one in the second person only ("What did
  you recommend?") prefers the assistant's. Questions with both, or neither
  (third person, as in a conversation between two people), are left alone.
- Session boost (coarse-to-fine, as in HCAM): a memory's score grows with the
  total score its session collected among the top candidates. Answers tend
  to cluster in the one or two sessions a question is about.
- Temporal contiguity (as in EM-LLM): the turns right before and after a
  strong hit come along with a decayed score, because a question and its
  answer, or a statement and its elaboration, sit in adjacent turns.

Scores stay in [0, 1]: each step rescales what it adds.
"""

from __future__ import annotations

import re

from engramdb.core.ports import Facets, ReadSpec, Store
from engramdb.retrieval.terms import WORD

Scores = dict[int, tuple[float, list[str]]]
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _ranked(scores: Scores, top: int) -> list[tuple[int, tuple[float, list[str]]]]:
    return sorted(scores.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]


def named_speaker(query: str, facets: dict[int, Facets]) -> str | None:
    """The one candidate speaker whose whole name appears in the query, if exactly one does."""
    words = {w.lower() for w in _WORD.findall(query)}
    speakers = {f.speaker for f in facets.values() if f.speaker}
    named = {s for s in speakers if (parts := _WORD.findall(s.lower())) and all(p in words for p in parts)}
    return named.pop() if len(named) == 1 else None


def without_names(query: str, names: set[str]) -> str:
    """The query without the given people's names (whole words, any case, possessive 's too);
    the query itself if nothing else would be left."""
    parts = {p for name in names for p in _WORD.findall(name) if len(p) > 1}
    if not parts:
        return query
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in sorted(parts, key=len, reverse=True))
                         + r")(?:['\u2019]s)?\b", re.IGNORECASE)
    stripped = re.sub(r"\s+", " ", pattern.sub(" ", query)).strip()
    return stripped if _WORD.search(stripped) else query


def speaker_focus(query: str, scores: Scores, facets: dict[int, Facets], *, weight: float) -> Scores:
    """Scale others' memories by 1 / (1 + weight) when the query names one speaker."""
    if weight <= 0 or not scores:
        return scores
    speaker = named_speaker(query, facets)
    if speaker is None:
        return scores
    return prefer(scores, {ref for ref, f in facets.items() if f.speaker == speaker}, weight)


def prefer(scores: Scores, preferred: set[int], weight: float) -> Scores:
    """Scale every memory outside ``preferred`` by 1 / (1 + weight)."""
    return {ref: (score if ref in preferred else score / (1 + weight), sources)
            for ref, (score, sources) in scores.items()}


_FIRST = frozenset({"i", "me", "my", "mine", "myself", "i'm", "i've", "i'd", "i'll"})
_SECOND = frozenset({"you", "your", "yours", "yourself", "you're", "you've", "you'd", "you'll"})


def addressed_role(query: str) -> str | None:
    """"user" for a first-person question, "assistant" for a second-person one, else None."""
    words = {w.lower() for w in WORD.findall(query.replace("\u2019", "'"))}
    first, second = bool(words & _FIRST), bool(words & _SECOND)
    if first == second:
        return None
    return "user" if first else "assistant"


def role_focus(query: str, scores: Scores, facets: dict[int, Facets], *, weight: float) -> Scores:
    """Scale memories of the other role by 1 / (1 + weight) when the question addresses one role,
    and only when that role and another one are both among the candidates."""
    if weight <= 0 or not scores:
        return scores
    role = addressed_role(query)
    roles = {f.role for r, f in facets.items() if r in scores}
    if role is None or role not in roles or len(roles) < 2:
        return scores
    return prefer(scores, {ref for ref, f in facets.items() if f.role == role}, weight)


def session_boost(scores: Scores, facets: dict[int, Facets], *, weight: float, top: int) -> Scores:
    """score' = (score + weight * session_mass / best_session_mass * best_score) / (1 + weight)."""
    if weight <= 0 or not scores:
        return scores
    ranked = _ranked(scores, top)
    mass: dict[str, float] = {}
    for ref, (score, _) in ranked:
        session = facets[ref].session_id if ref in facets else None
        if session is not None:
            mass[session] = mass.get(session, 0.0) + score
    if not mass:
        return scores
    best_mass = max(mass.values())
    best = ranked[0][1][0]
    out: Scores = {}
    for ref, (score, sources) in scores.items():
        session = facets[ref].session_id if ref in facets else None
        bonus = mass.get(session, 0.0) / best_mass * best if session is not None else 0.0
        out[ref] = ((score + weight * bonus) / (1 + weight), sources)
    return out


def neighbours(store: Store, spec: ReadSpec, scores: Scores, *, top: int, width: int, decay: float) -> Scores:
    """Add the ±``width`` session neighbours of the ``top`` hits at score * decay^distance."""
    if top <= 0 or width <= 0 or decay <= 0 or not scores:
        return scores
    ranked = _ranked(scores, top)
    adjacent = store.adjacent([ref for ref, _ in ranked], spec, width)
    out = dict(scores)
    for ref, (score, _) in ranked:
        for near, offset in adjacent.get(ref, []):
            value = score * decay ** abs(offset)
            if value > out.get(near, (0.0, []))[0]:
                out[near] = (value, [*out.get(near, (0.0, []))[1], "neighbour"])
    return out
