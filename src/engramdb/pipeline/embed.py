"""The embedding stage: each memory's whole text and its sentence keys as one set of vectors.

Also the inline path (``Memory(background=False)``, ``reindex``) uses :func:`vectors_for`,
so a memory gets the same vectors whichever way it is embedded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from engramdb.core.embedcheck import checked_matrix
from engramdb.core.jobs import EMBED_STAGE, EMBED_VERSION, StageOutput, VectorWrite
from engramdb.core.models import MemoryRecord
from engramdb.core.ports import Embedder, Keys, Store
from engramdb.engine.keys import sentence_keys


def vectors_for(records: Sequence[MemoryRecord], embedder: Embedder, store: Store, *,
                with_keys: bool = True) -> list[Keys]:
    """Each record's keys (its whole text, then its sentences), reusing the stored keys of
    identical text; everything new is embedded in one call (the embedder sorts texts by
    length and batches them)."""
    out: list[Keys | None] = []
    todo: dict[str, list[int]] = {}
    texts: dict[str, list[str]] = {}
    dim = embedder.dim
    stored = store.vectors_for_hashes([rec.index_hash for rec in records], embedder.model_id, dim, EMBED_VERSION)
    for i, rec in enumerate(records):
        keys = sentence_keys(rec.content) if with_keys else []
        known = stored.get(rec.index_hash)
        if known is not None and (known.shape[0] == 1 + len(keys) or not with_keys):
            out.append(known[:1 + len(keys)])
            continue
        out.append(None)
        todo.setdefault(rec.index_hash, []).append(i)
        texts[rec.index_hash] = [rec.index_text, *keys]
    if todo:
        flat = [t for h in todo for t in texts[h]]
        vecs = checked_matrix(embedder.embed_documents(flat), len(flat), dim, embedder.model_id)
        start = 0
        for h, idx in todo.items():
            end = start + len(texts[h])
            for i in idx:
                out[i] = vecs[start:end]
            start = end
    done = [k for k in out if k is not None]
    assert len(done) == len(records)  # every record was either known or embedded
    return done


class EmbedStage:
    """Stage ``embed``: vectors for the current version of each memory."""

    name = EMBED_STAGE
    version = EMBED_VERSION

    def __init__(self, embedder: Callable[[], Embedder], store: Store, *, with_keys: bool = True) -> None:
        self._embedder = embedder  # loaded on the first batch, in the worker's thread
        self._store = store
        self._with_keys = with_keys

    def run(self, records: Sequence[MemoryRecord]) -> StageOutput:
        if not records:
            return StageOutput()
        embedder = self._embedder()
        keys = vectors_for(records, embedder, self._store, with_keys=self._with_keys)
        writes = tuple(VectorWrite(r.id, r.index_hash, k) for r, k in zip(records, keys, strict=True))
        return StageOutput(vectors=writes, model_id=embedder.model_id, version=self.version)
