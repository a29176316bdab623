"""Follow links: memories that share a rare entity with a top hit come along (a second hop).

A multi-hop question names the first hop ("Where did Maria's dog win a contest?")
but not the second: the turn that answers it ("Biscuit won the agility contest in
Porto") is about an entity only the first hit names ("Maria adopted a dog named
Biscuit"). So the entities of the ``top`` fused candidates (``entities.py``) that
the question does not already name are looked up in the scope's full-text index,
one phrase at a time, and the memories that mention one of them join the
candidates at ``weight`` times the score of the hit that named it (a link never
lifts a memory above the hit it came from, and an existing higher score is kept).

Links are computed at query time from store primitives (``fetch`` and
``text_search``), so nothing is stored and adding a memory re-indexes nothing.
An entity mentioned by more than ``MAX_MENTIONS`` memories of the scope is not a
link but a topic (or a word the heuristics took for a name) and is skipped; the
lookups per search are capped at ``MAX_LOOKUPS``. A several-word entity is one
search term, which the SQLite store matches as a phrase.
"""

from __future__ import annotations

from engramdb.core.ports import Facets, ReadSpec, Store
from engramdb.retrieval.entities import COMMON, entities, proper_words
from engramdb.retrieval.expand import Scores
from engramdb.retrieval.terms import WORD

MAX_MENTIONS = 8  # more mentions in the scope than this: not a link
MAX_LOOKUPS = 12  # entity look-ups per search
WITH_PHRASES = False  # noun phrases as entities too (measured in BENCHMARKS.md, "Links")


def follow_links(store: Store, spec: ReadSpec, query: str, scores: Scores, facets: dict[int, Facets], *,
                 weight: float, top: int) -> Scores:
    """Add the memories linked to the ``top`` candidates at ``weight`` * the linking hit's score."""
    if weight <= 0 or top <= 0 or not scores:
        return scores
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]
    records = store.fetch([ref for ref, _ in ranked], spec)
    texts = {ref: rec.content for ref, rec in records.items()}
    people = {f.speaker for f in facets.values() if f.speaker} | {r.speaker for r in records.values() if r.speaker}
    linked = link_terms([(texts[ref], score) for ref, (score, _) in ranked if ref in texts], query, people)
    out = dict(scores)
    for term, score in linked[:MAX_LOOKUPS]:
        mentions = store.text_search(spec, [term], MAX_MENTIONS + 1)
        if len(mentions) > MAX_MENTIONS:
            continue
        value = weight * score
        for item in mentions:
            current, sources = out.get(item.ref, (0.0, []))
            if value > current:
                out[item.ref] = (value, [*sources, "link"])
    return out


def link_terms(hits: list[tuple[str, float]], query: str, people: set[str]) -> list[tuple[str, float]]:
    """The entities of the hits' texts that the query does not name, each with the best score of
    a hit naming it, best first (ties: first named first)."""
    asked = {w.lower().replace("\u2019", "'").split("'")[0] for w in WORD.findall(query)}
    proper = proper_words(text for text, _ in hits)
    best: dict[str, float] = {}
    for text, score in hits:
        for entity in entities(text, exclude=people, proper=proper, with_phrases=WITH_PHRASES):
            words = [w.lower() for w in WORD.findall(entity)]
            if not words or all(w in asked or w in COMMON for w in words):
                continue
            key = entity.lower()
            best[key] = max(best.get(key, 0.0), score)
    return sorted(best.items(), key=lambda kv: -kv[1])
