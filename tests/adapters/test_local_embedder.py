"""The packaged default model: loads offline from site-packages and embeds sensibly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engramdb import ConfigError, Memory
from engramdb.embedders.local import LocalEmbedder
from engramdb.registry import open_embedder


@pytest.fixture(scope="module")
def local() -> LocalEmbedder:
    emb = open_embedder("local")
    assert isinstance(emb, LocalEmbedder)
    return emb


@pytest.fixture(scope="module")
def source() -> LocalEmbedder:
    """The packaged file as shipped (fp32 arithmetic: a text's vector does not depend on its batch)."""
    emb = open_embedder("local:all-MiniLM-L6-v2")
    assert isinstance(emb, LocalEmbedder)
    return emb


def test_default_is_minilm_384(local: LocalEmbedder) -> None:
    assert local.model_id == "local:all-MiniLM-L6-v2-q8c" and local.dim == 384


def test_vectors_are_unit_length_and_order_independent(source: LocalEmbedder) -> None:
    texts = ["a short one", "a much longer sentence about hiking in the mountains with friends", "mid length text"]
    out = source.embed_documents(texts)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # batching sorts by length internally; rows must still match their inputs
    single = np.stack([source.embed_documents([t])[0] for t in texts])
    np.testing.assert_allclose(out, single, atol=1e-4)


def test_semantics(local: LocalEmbedder) -> None:
    q = local.embed_query("What is the name of my cat?")
    docs = local.embed_documents(["My cat is called Pimenta.", "The stock market fell sharply today."])
    scores = docs @ q
    assert scores[0] > scores[1] + 0.2


def test_long_input_is_truncated_not_rejected(local: LocalEmbedder) -> None:
    assert local.embed_documents(["word " * 5000]).shape == (1, 384)


def test_unknown_local_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown local model"):
        open_embedder("local:nope")


def test_memory_default_embedder_finds_paraphrases(tmp_path: Path) -> None:
    os.environ.pop("ENGRAM_EMBEDDER", None)
    with Memory(tmp_path / "m.db", background=False) as mem:
        mem.add(["I adopted a kitten from the shelter", "We shipped the robot arm to Porto"], user_id="u")
        res = mem.search("new pet", user_id="u", k=1)
        assert "kitten" in res.hits[0].record.content


def test_batches_group_similar_lengths_and_keep_every_index():
    from engramdb.embedders.local import _batches

    lengths = [100, 8, 9, 105, 8, 250, 7]  # token counts
    batches = _batches(lengths, size=2)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 2
        assert max(lengths[i] for i in b) <= 1.1 * min(lengths[i] for i in b) + 2
    assert [6, 1] in batches and [0, 3] in batches  # shortest first; long texts never pad short ones


@given(st.lists(st.integers(0, 3000), max_size=300), st.integers(1, 128))
def test_batches_properties(lengths: list[int], size: int) -> None:
    from engramdb.embedders.local import BUCKET_RATIO, BUCKET_SLACK, _batches

    batches = _batches(lengths, size)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # each index exactly once
    assert all(1 <= len(b) <= size for b in batches)
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat)  # batches are in length order, so similar lengths share one
    for b in batches:
        assert max(lengths[i] for i in b) <= BUCKET_RATIO * min(lengths[i] for i in b) + BUCKET_SLACK
