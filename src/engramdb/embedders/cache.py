"""An on-disk cache of document vectors in front of any embedder.

Embedding is by far the slowest part of ingesting a conversation with the
local model; benchmarks and re-imports embed the same texts again and again.
``CachedEmbedder`` keeps document vectors in a small SQLite file keyed by
(model_id, sha256 of the text) and only asks the wrapped embedder for texts it
has not seen. Query vectors are kept in a bounded in-memory LRU only: a query
is usually embedded once, but a benchmark asks the same question many times.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engramdb.core.errors import EmbedderError
from engramdb.core.ports import Embedder, Matrix, Vector

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model_id TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, text_sha256)
) WITHOUT ROWID
"""
_LOOKUP_CHUNK = 500  # stays under SQLite's bound-parameter limit


ENV_CACHE_DIR = "ENGRAM_CACHE_DIR"


def cache_dir() -> Path:
    """The directory of derived, re-creatable files (embedding cache, quantised models):
    ``$ENGRAM_CACHE_DIR``, else the user cache dir."""
    override = os.environ.get(ENV_CACHE_DIR)
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("engramdb", appauthor=False))


def default_cache_path() -> Path:
    return cache_dir() / "embeddings.sqlite"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class CachedEmbedder:
    """Implements :class:`engramdb.core.ports.Embedder` by wrapping another embedder."""

    def __init__(self, inner: Embedder, path: str | Path | None = None, *, query_cache_size: int = 4096) -> None:
        self.inner = inner
        self.path = Path(path) if path is not None else default_cache_path()
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, Vector] = OrderedDict()
        self._query_cache_size = query_cache_size
        self.hits = 0
        self.misses = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise EmbedderError(f"cannot open the embedding cache {self.path}: {exc}") from exc

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        keys = [text_key(t) for t in texts]
        found = self._lookup(sorted(set(keys)))
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        if todo:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            vectors = self.inner.embed_documents([texts[first[k]] for k in todo])
            fresh = {k: np.asarray(v, dtype=np.float32) for k, v in zip(todo, vectors, strict=True)}
            self._store(fresh)
            found.update(fresh)
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = found[k]
        return out

    def embed_query(self, text: str) -> Vector:
        with self._lock:
            cached = self._queries.get(text)
            if cached is not None:
                self._queries.move_to_end(text)
                return cached
        vector = self.inner.embed_query(text)
        with self._lock:
            self._queries[text] = vector
            if len(self._queries) > self._query_cache_size:
                self._queries.popitem(last=False)
        return vector

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _lookup(self, keys: list[str]) -> dict[str, Vector]:
        found: dict[str, Vector] = {}
        model, dim = self.model_id, self.dim
        try:
            with self._lock:
                for start in range(0, len(keys), _LOOKUP_CHUNK):
                    chunk = keys[start:start + _LOOKUP_CHUNK]
                    rows = self._db.execute(
                        "SELECT text_sha256, dim, vector FROM vectors WHERE model_id = ? "
                        f"AND text_sha256 IN ({','.join('?' * len(chunk))})", [model, *chunk]).fetchall()
                    for key, row_dim, blob in rows:
                        if row_dim == dim:  # a model id reused with another size is a miss, not an error
                            found[key] = np.frombuffer(blob, dtype=np.float32).copy()
        except sqlite3.Error as exc:
            raise EmbedderError(f"embedding cache {self.path} read failed: {exc}") from exc
        return found

    def _store(self, vectors: dict[str, Vector]) -> None:
        model = self.model_id
        rows = [(model, k, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes())
                for k, v in vectors.items()]
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
                except sqlite3.Error:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise EmbedderError(f"embedding cache {self.path} write failed: {exc}") from exc
