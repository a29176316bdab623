"""Keyword-path query terms: words only, never FTS syntax."""

from __future__ import annotations

import pytest

from engramdb.retrieval.terms import query_terms


def test_lowercases_dedupes_and_drops_stopwords():
    assert query_terms("What did Caroline say about the Adoption agency? adoption!") == [
        "caroline", "say", "adoption", "agency"]


def test_all_stopwords_falls_back_to_all_words():
    assert query_terms("what is it") == ["what", "is", "it"]


def test_possessives_and_contractions_keep_the_stem():
    assert query_terms("Melanie's kids' camping") == ["melanie", "kids", "camping"]


@pytest.mark.parametrize("query, expected", [
    ('"AND OR (', ["and", "or"]),  # no longer operators, just (stop)words
    ("NEAR(a b)", ["near", "b"]),
    ("col:term", ["col", "term"]),
    ("^start* -minus +plus", ["start", "minus", "plus"]),
    ("'); DROP TABLE memories;--", ["drop", "table", "memories"]),
    ("snake_case_word", ["snake", "case", "word"]),
    ("***", []),
    ("", []),
])
def test_syntax_characters_never_survive(query, expected):
    terms = query_terms(query)
    assert terms == expected
    assert all(t.isalnum() for t in terms)


def test_unicode_words():
    assert query_terms("Zürich café 東京 naïve") == ["zürich", "café", "東京", "naïve"]


def test_max_terms():
    words = " ".join(f"word{i}" for i in range(100))
    assert query_terms(words) == [f"word{i}" for i in range(32)]
    assert len(query_terms(words, max_terms=5)) == 5
