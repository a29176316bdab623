"""The rule extractor: precise on first-person statements, silent on denials, past habits,
conditionals and what an assistant says about itself."""

from __future__ import annotations

import pytest

from engramdb.core.models import Kind, MemoryRecord, Scope, utcnow
from engramdb.lifecycle.facts import subject_of
from engramdb.lifecycle.rules import extract


@pytest.mark.parametrize(("text", "want"), [
    ("I live in Lisbon with my wife", [("home city", "Lisbon")]),
    ("I just moved to The Hague!", [("home city", "The Hague")]),
    ("I work for the United Nations", [("employer", "United Nations")]),
    ("I'm a software engineer", [("occupation", "software engineer")]),
    ("My name is Sam Stone", [("name", "Sam Stone")]),
    ("I stopped eating meat", [("diet", "vegetarian")]),
    ("My dog is called Rex and my wife, Ana, loves him", [("partner", "Ana"), ("pet", "Rex")]),
    ("Sorry: I live in Rome, not Milan.", [("home city", "Rome")]),
    ("my goal is to improve my shooting", [("goal", "improve their shooting")]),
    ("I don't live in Paris", []),
    ("I used to live in Porto", []),
    ("if I moved to Paris I would be happy", []),
    ("I moved to May", []),
    ("I live in a small flat", []),
    ("Assume that my name is Juana Perez and write my resume", []),
    ("Here is my essay. " + "It was a long day. " * 80 + "My name is Ada Lovelace.", []),  # pasted text
])
def test_rules(text: str, want: list[tuple[str, str]]) -> None:
    assert sorted((f.attribute, f.value) for f in extract(text, "The user")) == sorted(want)


def _turn(role: str | None, speaker: str | None) -> MemoryRecord:
    now = utcnow()
    return MemoryRecord("m", Scope("u"), Kind.TURN, "I live in Oslo", now, now, now, role=role, speaker=speaker)


def test_whose_statement_it_is() -> None:
    assert subject_of(_turn("user", None)) == ("user", "The user")
    assert subject_of(_turn("assistant", None)) is None
    assert subject_of(_turn("assistant", "Melanie")) == ("Melanie", "Melanie")  # two people talking
    assert subject_of(_turn("assistant", "Assistant")) is None
