"""Entities without a model: proper names (and optional noun phrases) of one memory's text."""

from __future__ import annotations

import pytest

from engramdb.retrieval.entities import entities, name_parts, names, phrases, proper_words


@pytest.mark.parametrize("text, expected", [
    ("Maria adopted a dog named Biscuit.", ["Biscuit"]),  # Maria only starts the sentence here
    ("We flew to New York and then to Rio de Janeiro.", ["New York", "Rio de Janeiro"]),
    ("I loved reading \"Charlotte's Web\" as a kid.", ["Charlotte's Web"]),
    ("I love the Lord of the Rings books.", ["Lord of the Rings"]),
    ("Biscuit won the agility contest in Porto!", ["Porto"]),
    ("Last week I went to an LGBTQ pride parade.", ["LGBTQ"]),
    ("New York is big.", ["New York"]),  # sentence-initial, but the name goes on
    ("Thanks! Wow, that's great. I'm so happy for you.", []),
    ("Keep it up! Seeing you happy makes my day.", []),  # capitalised only because they come first
    ("See you on Friday, or in March.", []),  # times are not things
])
def test_names(text: str, expected: list[str]) -> None:
    assert names(text) == expected


def test_speakers_and_their_short_forms_are_never_names() -> None:
    text = "Hey Melanie! Thanks, Mel. Caroline and Jon Snow met Sara at the Grand Canyon."
    assert names(text, exclude=["Melanie", "Caroline", "Jon Snow"]) == ["Sara", "Grand Canyon"]
    assert name_parts(["Jon Snow", "Caroline"]) == {"jon", "snow", "caroline"}


def test_a_possessive_names_the_owner_once() -> None:
    assert names("I met Maria. Maria's dog is called Biscuit, and MARIA laughs.") == ["Maria", "Biscuit"]


def test_sentence_initial_words_count_when_written_as_names_elsewhere() -> None:
    texts = ["Sweden is lovely in June.", "My grandma lives in Sweden."]
    assert names(texts[0]) == []
    assert names(texts[0], proper=proper_words(texts)) == ["Sweden"]
    assert "sweden" in proper_words(texts) and "june" not in proper_words(["It was June."])


def test_noun_phrases_are_adjacent_content_words_within_a_clause() -> None:
    text = "Researching adoption agencies, in my home country. Sweden, pride parade!"
    assert phrases(text) == ["adoption agencies", "home country", "pride parade"]
    assert entities("My home country is Sweden, said Maria.", with_phrases=True) == ["Sweden", "Maria", "home country"]
    assert entities("My home country is Sweden.") == ["Sweden"]


def test_odd_input() -> None:
    assert names("") == [] and phrases("") == []
    assert names("A. B. I. We met O'Neil's friend in Z\u00fcrich, 42 km from \u00c9mile's. Don't!") == [
        "O'Neil", "Z\u00fcrich", "\u00c9mile"]
