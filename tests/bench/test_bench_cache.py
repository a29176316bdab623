"""CachedEmbedder: document vectors survive on disk, keyed by model and text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from engramdb.core.errors import EmbedderError
from engramdb.core.ports import Embedder, Matrix, Vector
from engramdb.embedders.cache import CachedEmbedder
from engramdb.embedders.hashing import HashEmbedder
from engramdb.engine.memory import Memory


class Counting:
    """A hash embedder that counts what it is asked to embed."""

    def __init__(self, dim: int = 32) -> None:
        self.inner = HashEmbedder(dim)
        self.documents: list[str] = []
        self.queries = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        self.documents += list(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> Vector:
        self.queries += 1
        return self.inner.embed_query(text)


def test_vectors_are_cached_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "c" / "emb.sqlite"
    inner = Counting()
    cached: Embedder = CachedEmbedder(inner, path)
    texts = ["alpha", "beta", "alpha", "gamma"]
    first = cached.embed_documents(texts)
    assert inner.documents == ["alpha", "beta", "gamma"]  # a repeated text is embedded once
    np.testing.assert_allclose(first, HashEmbedder(32).embed_documents(texts))
    assert cached.model_id == "hash-32" and cached.dim == 32

    again = Counting()
    reopened = CachedEmbedder(again, path)  # a new process would see the same file
    np.testing.assert_array_equal(reopened.embed_documents(["gamma", "alpha", "delta"]),
                                  HashEmbedder(32).embed_documents(["gamma", "alpha", "delta"]))
    assert again.documents == ["delta"]
    assert (reopened.hits, reopened.misses) == (2, 1)
    assert reopened.embed_documents([]).shape == (0, 32)


def test_keys_include_the_model(tmp_path: Path) -> None:
    path = tmp_path / "emb.sqlite"
    CachedEmbedder(Counting(32), path).embed_documents(["alpha"])
    other = Counting(64)  # another model id: never served the 32-d vector
    assert CachedEmbedder(other, path).embed_documents(["alpha"]).shape == (1, 64)
    assert other.documents == ["alpha"]


def test_queries_use_a_bounded_memory_cache(tmp_path: Path) -> None:
    inner = Counting()
    cached = CachedEmbedder(inner, tmp_path / "emb.sqlite", query_cache_size=2)
    for text in ("q1", "q1", "q2", "q1", "q3", "q2"):
        cached.embed_query(text)
    assert inner.queries == 4  # q1, q2, q3, then q2 again (evicted by q3)


def test_memory_uses_the_cache(tmp_path: Path) -> None:
    inner = Counting()
    with Memory(tmp_path / "m.db", embedder=CachedEmbedder(inner, tmp_path / "emb.sqlite")) as mem:
        mem.add([{"role": "user", "content": "I adopted a cat named Pimenta"}], user_id="u")
        assert mem.search("cat", user_id="u").hits[0].record.content.startswith("I adopted")
    with Memory(tmp_path / "m2.db", embedder=CachedEmbedder(inner, tmp_path / "emb.sqlite")) as mem:
        mem.add([{"role": "user", "content": "I adopted a cat named Pimenta"}], user_id="u")
    assert inner.documents == ["I adopted a cat named Pimenta"]


def test_unusable_path_is_an_engram_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EmbedderError):
        CachedEmbedder(HashEmbedder(8), blocker / "emb.sqlite")
