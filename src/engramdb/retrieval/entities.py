"""Entities of a memory's text without a model: proper names and, optionally, noun phrases.

A *name* is a run of capitalised words ("Biscuit", "New York", "Charlotte's Web",
"LGBTQ"). Capitals alone are not enough at the start of a sentence, where every
word is capitalised: a sentence-initial word counts only when it is not a common
word (function words, greetings and other conversational openers) and the same
text does not also use it in lower case. Names of the conversation's speakers
(``exclude``) never count: every turn carries them, so they link everything to
everything. Weekdays and months are times, not things, and are left out too.

A *noun phrase* (``phrases=True``) is approximated by two adjacent lower-case
content words inside one clause ("adoption agencies", "home country"); there is
no tagger, so verb phrases slip in ("go swimming") and rarity filters them later.

Everything here is a pure function over strings; what to do with the entities
(follow links between memories) is in ``links.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from engramdb.retrieval.terms import STOPWORDS

# A word with an optional inner apostrophe (possessive or contraction), or a clause break.
_TOKEN = re.compile(r"[^\W\d_][^\W_]*(?:['\u2019][^\W_]+)?|[.!?;:,()\"\u201c\u201d\n]+|\S", re.UNICODE)
_SENTENCE_END = re.compile(r"^[.!?\n]")
_BREAK = re.compile(r"^[^\w]")

# Words that start sentences in conversation but name nothing.
COMMON = STOPWORDS | frozenset(
    """yes yeah yep yup no nope oh ooh ah aw aww wow whoa hey hi hello thanks thank thx sure ok okay
    great awesome cool nice good glad sorry haha hahaha lol omg totally definitely absolutely anyway
    also plus btw hope maybe let lets well right true agreed really honestly seriously congrats
    congratulations amazing wonderful fantastic happy love hmm um uh alright besides still though
    actually sounds looks seems speaking talking guess think know remember imagine sometimes
    always never today tonight tomorrow yesterday recently lately last next one two first finally
    wish welcome exactly absolutely indeed perhaps please dear bye goodbye cheers take have had
    i'm i've i'd i'll it's that's what's there's here's let's you're we're they're can't don't
    didn't won't isn't wasn't mr mrs ms dr""".split()  # noqa: SIM905
)
TIMES = frozenset(
    """monday tuesday wednesday thursday friday saturday sunday january february march april may june
    july august september october november december mon tue tues wed thu thur thurs fri sat sun jan feb
    mar apr jun jul aug sep sept oct nov dec""".split()  # noqa: SIM905
)
_CONNECTORS = frozenset({"of", "the", "de", "da", "do", "del", "la", "le", "van", "von"})
_CONTRACTED = frozenset({"m", "re", "ve", "ll", "d", "t"})
_POSSESSIVE = re.compile(r"['\u2019]s$", re.IGNORECASE)


def _base(word: str) -> str:
    """The word without a possessive 's, lower-cased."""
    return _POSSESSIVE.sub("", word).lower()


def _is_word(token: str) -> bool:
    return not _BREAK.match(token)


def _capitalised(word: str) -> bool:
    return word[:1].isupper()


def name_parts(names: Iterable[str]) -> frozenset[str]:
    """The lower-cased words of people's names (to exclude: "Jon Snow" -> jon, snow)."""
    return frozenset(p.lower() for name in names for p in re.findall(r"[^\W_]+", name) if p)


def _words(text: str) -> list[tuple[str, bool]]:
    """(word, starts a sentence) for each word of ``text``; clause breaks as ("", False)."""
    out: list[tuple[str, bool]] = []
    initial = True
    for token in _TOKEN.findall(text):
        if not _is_word(token):
            out.append(("", False))
            if _SENTENCE_END.match(token) or token in "\"\u201c":
                initial = True
            continue
        out.append((token, initial))
        initial = False
    return out


def proper_words(texts: Iterable[str]) -> frozenset[str]:
    """Words written capitalised inside a sentence somewhere in ``texts`` (lower-cased, without
    a possessive): what a capitalised sentence-initial word must be to count as a name."""
    return frozenset(_base(w) for text in texts for w, initial in _words(text)
                     if w and not initial and _capitalised(w) and _base(w) not in COMMON | TIMES)


def _spoken(base: str, skip: frozenset[str]) -> bool:
    """A speaker's name part, or a short form of one ("Mel" for Melanie)."""
    return base in skip or (len(base) >= 2 and any(part.startswith(base) for part in skip))


def names(text: str, *, exclude: Iterable[str] = (), proper: frozenset[str] | None = None) -> list[str]:
    """Proper names in ``text``, in order of first appearance, each once (as first written).

    ``exclude``: people never to return (the speakers'), matched per word without case, short
    forms too ("Mel" for Melanie); a run is split where such a word sits. A capitalised word
    that starts a sentence counts only when it is in ``proper`` (default: the words this text
    capitalises inside a sentence; see ``proper_words``) or continues into more capitalised
    words ("New York is ...")."""
    skip = name_parts(exclude)
    words = _words(text)
    known = proper_words([text]) if proper is None else proper
    found: dict[str, str] = {}
    run: list[str] = []

    def close() -> None:
        if run:
            run[-1] = _POSSESSIVE.sub("", run[-1])  # "Maria's dog" names Maria, "Charlotte's Web" stays
            name = " ".join(run)
            found.setdefault(name.lower(), name)
            run.clear()

    for i, (word, starts) in enumerate(words):
        base = _base(word)
        if run and word in _CONNECTORS and _bridges(words, i, skip):
            run.append(word)  # "Lord of the Rings"
            continue
        if not word or not _capitalised(word) or _spoken(base, skip) or base in TIMES or not _nameish(word):
            close()
            continue
        if base in COMMON and not run:
            continue  # "I", "The", "Thanks" ... never open a name
        if starts and base not in known and not (_continues(words, i, skip) or _bridges(words, i + 1, skip)):
            continue  # capitalised only because it comes first
        run.append(word)
    close()
    return list(found.values())


def _bridges(words: list[tuple[str, bool]], i: int, skip: frozenset[str]) -> bool:
    """Lower-case connectors from ``i`` on lead to another capitalised word of the name."""
    j = i
    while j < len(words) and words[j][0] in _CONNECTORS:
        j += 1
    return j > i and _continues(words, j - 1, skip)


def _continues(words: list[tuple[str, bool]], i: int, skip: frozenset[str]) -> bool:
    """The next word is capitalised too and could belong to the same name."""
    if i + 1 >= len(words):
        return False
    nxt = words[i + 1][0]
    return bool(nxt) and _capitalised(nxt) and _base(nxt) not in COMMON and not _spoken(_base(nxt), skip)


def _nameish(token: str) -> bool:
    """At least two letters ("A" is an article) and not a contraction ("I'm", "Don't")."""
    core = _POSSESSIVE.sub("", token)
    tail = re.split(r"['\u2019]", core)[1:]
    return len(core) > 1 and not (tail and tail[-1].lower() in _CONTRACTED)


def phrases(text: str) -> list[str]:
    """Pairs of adjacent lower-case content words within a clause, each once, in order."""
    found: dict[str, None] = {}
    previous: str | None = None
    for token in _TOKEN.findall(text):
        if not _is_word(token):
            previous = None
            continue
        word = token.lower()
        if (_capitalised(token) or word in COMMON or word in TIMES or len(word) < 3 or "'" in word
                or "\u2019" in word):
            previous = None
            continue
        if previous is not None:
            found.setdefault(f"{previous} {word}", None)
        previous = word
    return list(found)


def entities(text: str, *, exclude: Iterable[str] = (), proper: frozenset[str] | None = None,
             with_phrases: bool = False) -> list[str]:
    """Names (see ``names``) and, with ``with_phrases``, noun phrases of one memory's text."""
    out = names(text, exclude=exclude, proper=proper)
    return [*out, *phrases(text)] if with_phrases else out
