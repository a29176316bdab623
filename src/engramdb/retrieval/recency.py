"""Knowledge updates over raw turns, without an LLM: a question about the present prefers the
newest of the memories that answer the same thing.

"Where do I live?", "What is my current job?", "How many bikes do I have now?" are
asked of a history in which the answer changed ("I live in Lisbon" in 2023, "I live
in Berlin now" in 2024). Both turns match the question about equally well, so
relevance alone ranks them by wording. Among the top candidates, this re-scorer
finds groups that answer the same thing: candidates of the same role and speaker
whose *answering sentences* (each one's sentence key closest to the question) are
near-duplicates (cosine at least ``similarity``). Within a group the newest member
(event time) takes the group's best score and the older ones are scaled by
1 / (1 + weight): demoted, not removed, so a packed context can still show the
change.

Only questions about the present are touched: a marker such as "now", "currently",
"these days", "still", "latest", "most recent(ly)", "so far", or the present tense in
the first person ("where do I live?", "how many bikes do I have?").
A dated question ("in May", "in 2023", "last week", "3 days ago") keeps the time
focus, and one about the past ("where did I live before?", "used to", "previously",
"at first") keeps relevance order. With ``valid_at`` only what had been said by
then is a candidate at all, so "newest" is the newest known at that time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np

from engramdb.core.jobs import EMBED_VERSION
from engramdb.core.ports import Facets, ReadSpec, Store, Vector
from engramdb.retrieval.expand import Scores
from engramdb.retrieval.temporal import parse_window

TOP = 20  # candidates looked at, best first
SIMILARITY = 0.5  # cosine of two answering sentences that say the same thing
COUNT_SIMILARITY = 0.8  # for a count question: the same sentence with another number

_CURRENT = re.compile(
    r"\b(?:now|nowadays|currently|current|these days|at the moment|at present|presently|still|anymore|"
    r"latest|most recent(?:ly)?|so far|up to date|to date|as of today)\b")
_PAST = re.compile(
    r"\b(?:before|previous(?:ly)?|formerly|former|used to|ago|earlier|originally|initially|at first|first|"
    r"back then|back when|once upon|last (?:time|week|month|year|summer|winter|spring|fall|autumn|weekend)|"
    r"in the past(?!\s+(?:\d+|few|couple|several|two|three|four|five|six)?\s*(?:of\s+)?"
    r"(?:days?|weeks?|months?|years?)))\b")
# a question in the past tense (weak: "most recently" or "now" overrides it)
_PAST_TENSE = re.compile(r"\b(?:did|didn't|was|wasn't|were|weren't|had|hadn't)\b")
_PRESENT = re.compile(
    r"\b(?:do|does|don't|doesn't|am|is|isn't|are|aren't|have|has|haven't|hasn't|can|can't)\b"
    r"|\b(?:i|we|you|he|she|they)\s+(?:live|work|own|need|use|keep|go|take|like|want)\b"
    r"|\b(?:what|where|who|which|how)'s\b")
# present tense alone is a weak sign: it counts for the user's own state ("where do I live?"), not for
# third persons ("what is Melanie's favourite book?" asks for a fact, not for its latest value)
_FIRST_PERSON = re.compile(r"\b(?:i|me|my|mine|myself|i'm|i've|we|us|our|ours)\b")
# a count or total of what happened ("how many ... have I bought", "in total") adds up every dated
# mention; one about a state ("how many bikes do I have", "how much do I pay") or with an explicit
# marker ("... so far", "... now") asks for the latest value
_STATE = re.compile(r"\b(?:do|does)\s+(?:i|we|my)\b[^?]*\b(?:have|own|keep|hold|use|need|take|pay|earn|weigh|"
                    r"spend|live|work)\b|\b(?:am|are)\s+(?:i|we)\b")
_AGGREGATE = re.compile(r"\b(?:how many|how much|how often|how long|number of|in total|total|altogether|"
                        r"all the|list|each|every)\b")
_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)  # only whether a date is named matters here, not which


def count_question(query: str) -> bool:
    """A count or total in the present perfect or present ("how many ... have I tried"), with no
    date and no past marker: its answer may be the latest running total."""
    lowered = query.replace("\u2019", "'").lower()
    if parse_window(lowered, _ANY_TIME) is not None or _PAST.search(lowered) or _PAST_TENSE.search(lowered):
        return False
    return _AGGREGATE.search(lowered) is not None and _FIRST_PERSON.search(lowered) is not None


def current_question(query: str) -> bool:
    """Whether ``query`` asks about the present state of something (see the module docstring)."""
    lowered = query.replace("\u2019", "'").lower()
    if parse_window(lowered, _ANY_TIME) is not None or _PAST.search(lowered):
        return False
    if _CURRENT.search(lowered):
        return True
    if _PAST_TENSE.search(lowered) or (_AGGREGATE.search(lowered) and not _STATE.search(lowered)):
        return False
    return _PRESENT.search(lowered) is not None and _FIRST_PERSON.search(lowered) is not None


def answer_vectors(store: Store, spec: ReadSpec, refs: list[int], query: Vector, model_id: str) -> dict[int, Vector]:
    """Each ref's stored key (whole text or one sentence) closest to ``query``; refs without
    vectors of ``model_id`` are left out."""
    records = store.fetch(refs, spec)
    stored = store.vectors_for_hashes([rec.index_hash for rec in records.values()], model_id, int(query.shape[0]),
                                      EMBED_VERSION)
    out: dict[int, Vector] = {}
    for ref, rec in records.items():
        keys = stored.get(rec.index_hash)
        if keys is not None and len(keys):
            out[ref] = keys[int(np.argmax(keys @ query))]
    return out


def groups(refs: list[int], facets: dict[int, Facets], vectors: dict[int, Vector],
           similarity: float) -> list[list[int]]:
    """Connected groups (two or more refs) of the same role and speaker whose vectors are near-duplicates."""
    usable = [r for r in refs if r in vectors and r in facets]
    parent = {r: r for r in usable}

    def root(r: int) -> int:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    for i, a in enumerate(usable):
        for b in usable[i + 1:]:
            same = (facets[a].role, facets[a].speaker) == (facets[b].role, facets[b].speaker)
            if same and float(vectors[a] @ vectors[b]) >= similarity:
                parent[root(b)] = root(a)
    members: dict[int, list[int]] = {}
    for r in usable:
        members.setdefault(root(r), []).append(r)
    return [g for g in members.values() if len(g) > 1]


def regroup(scores: Scores, facets: dict[int, Facets], found: list[list[int]], weight: float) -> Scores:
    """Within each group the newest member takes the group's best score; older ones are scaled by
    1 / (1 + weight). A group whose members were all said at one time is left alone."""
    out = dict(scores)
    for group in found:
        newest_time = max(facets[r].event_time for r in group)
        if all(facets[r].event_time == newest_time for r in group):
            continue
        best = max(scores[r][0] for r in group)
        newest = max((r for r in group if facets[r].event_time == newest_time), key=lambda r: (scores[r][0], -r))
        for r in group:
            score, sources = scores[r]
            if r == newest:
                out[r] = (best, [*sources, "newest"] if best > score else sources)
            elif facets[r].event_time < newest_time:
                out[r] = (score / (1 + weight), sources)
    return out


def knowledge_update(store: Store, spec: ReadSpec, query: str, scores: Scores, facets: dict[int, Facets],
                     vector: Vector | None, model_id: str, *, weight: float, top: int = TOP,
                     similarity: float = SIMILARITY) -> Scores:
    """For a question about the present, the newest of each group of top candidates that answer
    the same thing takes the group's best score (older ones: / (1 + weight))."""
    if weight <= 0 or vector is None or len(scores) < 2:
        return scores
    if current_question(query):
        bar = similarity
    elif count_question(query):
        # a count may be a running total restated ("I've tried 5 ... now") or separate events ("I
        # bought a fern", "I bought a cactus"): only near-identical sentences are a running total
        bar = max(similarity, COUNT_SIMILARITY)
    else:
        return scores
    ranked = [ref for ref, _ in sorted(scores.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]]
    found = groups(ranked, facets, answer_vectors(store, spec, ranked, vector, model_id), bar)
    return regroup(scores, facets, found, weight) if found else scores
