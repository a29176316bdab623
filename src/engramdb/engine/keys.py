"""Sentence keys: the extra texts a memory is embedded under, besides its whole text.

One vector for a whole turn averages everything said in it; a question about one
thing in it ("What activities does Melanie do?") then has to compete with the
rest ("Yep, taking care of ourselves is vital. I'm off to go swimming with the
kids. Talk to you soon!"). Each sentence of a multi-sentence memory is also
embedded on its own, and a dense search scores the memory by its best key
(measured in BENCHMARKS.md). Fragments too short to mean anything on their own
("Wow!", "Thanks, Mel!") are joined to the sentence after them; long texts are
cut into at most ``MAX_KEYS`` runs of consecutive sentences, so a long answer
costs a bounded number of vectors.
"""

from __future__ import annotations

import re

MIN_WORDS = 4  # shorter pieces join the next sentence
MAX_KEYS = 8  # per memory

_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])\s+|\n+")


def sentence_keys(text: str) -> list[str]:
    """The key texts of ``text``: its sentences (short ones joined to the next), or nothing when
    the text is a single sentence (its whole-text vector already is that key)."""
    pieces = [p.strip() for p in _SENTENCE_END.split(text) if p.strip()]
    keys: list[str] = []
    carry = ""
    for piece in pieces:
        piece = f"{carry} {piece}" if carry else piece
        if len(piece.split()) < MIN_WORDS:
            carry = piece
            continue
        carry = ""
        keys.append(piece)
    if carry:
        if keys:
            keys[-1] = f"{keys[-1]} {carry}"
        else:
            keys.append(carry)
    if len(keys) < 2:
        return []
    return _runs(keys, MAX_KEYS) if len(keys) > MAX_KEYS else keys


def _runs(keys: list[str], n: int) -> list[str]:
    """``keys`` joined into ``n`` runs of consecutive sentences of near-equal count."""
    size, extra = divmod(len(keys), n)
    out: list[str] = []
    start = 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(" ".join(keys[start:end]))
        start = end
    return out
