"""Helpers for the background pipeline's tests: queueing records without a worker, the vectors
a memory must end up with, a slow deterministic embedder for worker subprocesses, and the
database checks run after a crash."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tests.support.probe import Probe

from engramdb.core.jobs import EMBED_STAGE, JobSpec
from engramdb.core.models import MemoryRecord, Records, Scope
from engramdb.core.ports import Matrix, Store, Vector
from engramdb.embedders.hashing import HashEmbedder
from engramdb.engine.inputs import make_records as _records
from engramdb.engine.keys import sentence_keys

ROOT = Path(__file__).resolve().parents[2]
DIM = 64


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a test subprocess: this checkout's src/ and tests/ importable."""
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **extra}


def queue(store: Store, texts: Sequence[str], *, user_id: str = "u", session_id: str | None = None) -> Records:
    """Write memories with their embed jobs, as a background ``add`` does, but start no worker."""
    records = _records(list(texts) if len(texts) > 1 else texts[0], Scope(user_id, None, session_id))
    store.add(records, None, None, [JobSpec(EMBED_STAGE, r.id) for r in records])
    return records


def expected_keys(record: MemoryRecord, embedder: HashEmbedder | None = None) -> Matrix:
    """The keys the embed stage gives ``record``: its index text, then its sentence keys."""
    emb = embedder or HashEmbedder(DIM)
    return emb.embed_documents([record.index_text, *sentence_keys(record.content)])


def stored_keys(path: Path | str, memory_id: str, dim: int = DIM) -> tuple[np.ndarray | None, str | None]:
    """The current version's stored vectors (None when it has none) and their model."""
    return Probe(path).stored_keys(memory_id, dim)


def assert_embedded(path: Path | str, records: Sequence[MemoryRecord], dim: int = DIM) -> None:
    """Each record's current version holds exactly the keys the embed stage gives its text, made
    by the hash embedder (one read for all of them)."""
    Probe(path).assert_embedded(records, dim)


def assert_healthy(path: Path | str) -> None:
    """SQLite's own check and both FTS5 indexes' checks pass (the FTS ones raise if not)."""
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.execute("INSERT INTO memories_fts(memories_fts) VALUES('integrity-check')")
        con.execute("INSERT INTO windows_fts(windows_fts) VALUES('integrity-check')")
    finally:
        con.close()


def job_rows(path: Path | str) -> list[tuple[object, ...]]:
    return Probe(path).job_rows()


def jobs_logged(path: Path | str) -> int:
    """Jobs completed, as the job log counts them (one row per completed batch)."""
    return Probe(path).jobs_logged()


class SlowEmbedder:
    """The hash embedder (same model id, same vectors), taking ``delay_s`` per text so that a
    worker can be caught mid-batch; with ``log``, each text it embedded is appended to that
    file as a JSON line once the batch is embedded (a worker killed later never writes it)."""

    def __init__(self, delay_s: float = 0.0, log: str | Path | None = None, dim: int = DIM) -> None:
        self._inner = HashEmbedder(dim)
        self._delay = delay_s
        self._log = Path(log) if log is not None else None

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        if self._delay:
            time.sleep(self._delay * len(texts))
        out = self._inner.embed_documents(texts)
        if self._log is not None:
            with self._log.open("a", encoding="utf-8") as f:
                f.write("".join(json.dumps(t) + "\n" for t in texts))
        return out

    def embed_query(self, text: str) -> Vector:
        return self._inner.embed_query(text)


def logged_texts(folder: Path, pattern: str = "*.log") -> list[str]:
    return [json.loads(line) for f in sorted(folder.glob(pattern)) for line in f.read_text("utf-8").splitlines()]
