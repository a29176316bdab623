"""Looking at a database behind the Store port's back, for the pipeline's and retention's tests
on both stores: the job rows, the job log, the stored vectors, recall statistics.

``db_target`` (a fixture, parametrised sqlite / postgres, like ``db_factory``) gives what
``Memory(...)`` opens (a path or a URL) and a :class:`Probe` on it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from tests.support.pg_fixtures import pg_database

from engramdb.core.models import MemoryRecord
from engramdb.embedders.hashing import HashEmbedder

KeysRow = tuple[np.ndarray | None, str | None]


class Probe:
    """Raw reads of one database; the SQL of the two stores differs only in placeholders,
    the vectors' layout and the name of a row's ref."""

    def __init__(self, target: str | Path) -> None:
        self.target = target
        self.pg = str(target).startswith(("postgres://", "postgresql://"))

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self.pg:
            with psycopg.connect(str(self.target), autocommit=True) as conn, conn.cursor() as cur:
                yield cur
            return
        con = sqlite3.connect(self.target)
        try:
            yield con.cursor()
        finally:
            con.close()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """``sql`` with ``?`` placeholders, on either store."""
        with self._cursor() as cur:
            cur.execute(sql.replace("?", "%s") if self.pg else sql, params)
            return [tuple(r) for r in cur.fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """A write behind the store's back (``?`` placeholders), committed."""
        if self.pg:
            with self._cursor() as cur:
                cur.execute(sql.replace("?", "%s"), params)
            return
        con = sqlite3.connect(self.target)
        try:
            with con:
                con.execute(sql, params)
        finally:
            con.close()

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        [row] = self.rows(sql, params)
        return row[0]

    def job_rows(self) -> list[tuple[Any, ...]]:
        return self.rows("SELECT id, stage, memory_id, state, attempts, error FROM jobs ORDER BY id")

    def jobs_logged(self) -> int:
        """Jobs completed, as the job log counts them (one row per completed batch)."""
        return int(self.value("SELECT coalesce(sum(jobs), 0) FROM job_log"))

    def running(self) -> int:
        return int(self.value("SELECT count(*) FROM jobs WHERE state = 'running'"))

    def versions(self, memory_id: str) -> int:
        return int(self.value("SELECT count(*) FROM memories WHERE id = ?", (memory_id,)))

    def current_keys(self, dim: int) -> dict[str, KeysRow]:
        """Every current version's vectors (None when it has none) and their model."""
        if not self.pg:
            found = self.rows("SELECT id, embedding, embed_model FROM memories WHERE sys_to IS NULL")
            return {mid: (None if blob is None else _matrix(mid, blob, dim), model) for mid, blob, model in found}
        out: dict[str, KeysRow] = {mid: (None, model) for mid, model in self.rows(
            "SELECT id, embed_model FROM memories WHERE sys_to IS NULL")}
        keys: dict[str, list[np.ndarray]] = {}
        for mid, vec in self.rows("SELECT m.id, v.embedding::real[] FROM vectors v JOIN memories m ON m.ref = v.ref "
                                  "WHERE m.sys_to IS NULL ORDER BY m.id, v.key_no"):
            keys.setdefault(mid, []).append(np.asarray(vec, dtype=np.float32))
        for mid, rows in keys.items():
            out[mid] = (np.stack(rows), out[mid][1])
        return out

    def stored_keys(self, memory_id: str, dim: int) -> KeysRow:
        found = self.current_keys(dim)
        assert memory_id in found, f"no current version of {memory_id}"
        return found[memory_id]

    def vector_rows(self) -> dict[str, int]:
        """How many whole-text vectors each memory id has, over all its versions."""
        if self.pg:
            return dict(self.rows("SELECT m.id, count(*) FROM vectors v JOIN memories m ON m.ref = v.ref "
                                  "WHERE v.key_no = 0 GROUP BY m.id"))
        return dict(self.rows("SELECT id, count(*) FROM memories WHERE embedding IS NOT NULL GROUP BY id"))

    def recall_row(self, memory_id: str) -> tuple[int, float | None]:
        [row] = self.rows("SELECT recall_count, last_recalled_at FROM memories WHERE id = ? AND sys_to IS NULL",
                          (memory_id,))
        return int(row[0]), row[1]

    def mutation_seq(self) -> int:
        return int(self.value("SELECT value FROM meta WHERE key = 'mutation_seq'"))

    def refs(self) -> dict[str, int]:
        """memory id -> the ref of its current version."""
        ref = "ref" if self.pg else "rowid"
        return {mid: int(r) for r, mid in self.rows(f"SELECT {ref}, id FROM memories WHERE sys_to IS NULL")}

    def assert_embedded(self, records: Sequence[MemoryRecord], dim: int) -> None:
        """Each record's current version holds exactly the keys the embed stage gives its text,
        made by the hash embedder (one read for all of them)."""
        from tests.support.pipeline import expected_keys

        stored = self.current_keys(dim)
        emb = HashEmbedder(dim)
        for rec in records:
            keys, model = stored[rec.id]
            assert model == emb.model_id and keys is not None, rec.id
            want = expected_keys(rec, emb)
            assert keys.shape == want.shape, (rec.id, keys.shape, want.shape)
            np.testing.assert_allclose(keys, want, atol=1e-6)


def _matrix(memory_id: str, blob: bytes, dim: int) -> np.ndarray:
    assert len(blob) % (4 * dim) == 0, f"{memory_id}: a BLOB of {len(blob)} bytes is not {dim}-wide rows"
    return np.frombuffer(blob, dtype=np.float32).reshape(-1, dim)


@dataclass(frozen=True)
class Target:
    """A database for one test: what Memory opens, and a probe on it."""

    db: str | Path
    probe: Probe

    @property
    def pg(self) -> bool:
        return self.probe.pg


def make_target(request: pytest.FixtureRequest, backend: str, name: str = "db") -> Target:
    """A fresh database of ``backend`` (the same ``name`` within a test is the same one)."""
    if backend == "postgres":
        url = pg_database(request, name)
        return Target(url, Probe(url))
    path = request.getfixturevalue("tmp_path") / f"{name}.db"
    return Target(path, Probe(path))


@pytest.fixture(params=["sqlite", "postgres"])
def db_target(request: pytest.FixtureRequest) -> Target:
    """A fresh database of each store, with a probe on it."""
    return make_target(request, str(request.param))
