"""Sentence keys: which texts a memory is embedded under besides its whole text."""

from __future__ import annotations

from engramdb.engine.keys import MAX_KEYS, MIN_WORDS, sentence_keys


def test_one_sentence_has_no_extra_keys():
    assert sentence_keys("I went to a LGBTQ support group yesterday.") == []
    assert sentence_keys("no punctuation at all but many words here") == []


def test_sentences_become_keys():
    text = "Taking care of ourselves is vital. I'm off to go swimming with the kids! Talk to you later?"
    assert sentence_keys(text) == [
        "Taking care of ourselves is vital.",
        "I'm off to go swimming with the kids!",
        "Talk to you later?",
    ]


def test_short_fragments_join_the_next_sentence():
    text = "Wow! Thanks, Mel! We went camping in the mountains last week. It rained every single day."
    keys = sentence_keys(text)
    assert keys == ["Wow! Thanks, Mel! We went camping in the mountains last week.", "It rained every single day."]
    assert all(len(k.split()) >= MIN_WORDS for k in keys)


def test_a_short_tail_joins_the_last_key():
    text = "We went camping in the mountains. It rained every single day. Bye!"
    assert sentence_keys(text) == ["We went camping in the mountains.", "It rained every single day. Bye!"]


def test_a_text_of_fragments_only_has_no_extra_keys():
    assert sentence_keys("Wow! Great! Thanks!") == []


def test_lines_split_too():
    text = "Shopping list for the party\nmilk, eggs, flour and sugar\n\nremember the candles too"
    assert sentence_keys(text) == ["Shopping list for the party", "milk, eggs, flour and sugar",
                                   "remember the candles too"]


def test_long_texts_are_cut_into_a_bounded_number_of_runs():
    sentences = [f"This is sentence number {i} of the answer." for i in range(21)]
    keys = sentence_keys(" ".join(sentences))
    assert len(keys) == MAX_KEYS
    assert " ".join(keys) == " ".join(sentences)  # consecutive, nothing lost, order kept
    sizes = [k.count("sentence number") for k in keys]
    assert max(sizes) - min(sizes) <= 1
