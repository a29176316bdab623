"""Query terms for the keyword path: words only, never query syntax."""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)  # a word, with an inner apostrophe ("i'm")

# Function words that only slow BM25 down; content words are kept.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves s t don""".split()  # noqa: SIM905
)


def query_terms(text: str, *, max_terms: int = 32) -> list[str]:
    """Distinct lower-cased words minus stopwords (all words if nothing else is left)."""
    words = [w.lower() for w in WORD.findall(text)]
    words = [w.split("'")[0] for w in words]
    seen: dict[str, None] = {}
    for w in words:
        if w and w not in STOPWORDS:
            seen.setdefault(w, None)
    if not seen:
        for w in words:
            if w:
                seen.setdefault(w, None)
    return list(seen)[:max_terms]
