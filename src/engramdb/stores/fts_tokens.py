"""SQLite FTS5's own tokenizer, run in process: the tokens the SQLite store's full-text indexes hold.

``porter unicode61 remove_diacritics 2`` splits, folds and stems words in a way no other
library reproduces exactly, and BM25 over other tokens ranks differently. So whoever needs the
index's tokens outside FTS5 (the PostgreSQL store's BM25, the SQLite store's in-memory keyword
tier for big scopes) makes them here, through an in-memory FTS5 table and its ``fts5vocab``
instance view.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

TOKENIZE = "porter unicode61 remove_diacritics 2"  # as memories_fts in sql/sqlite/0001_init.sql

Postings = dict[str, tuple[npt.NDArray[np.int32], npt.NDArray[np.uint16]]]

_local = threading.local()


def _tokenizer() -> sqlite3.Connection:
    db: sqlite3.Connection | None = getattr(_local, "db", None)
    if db is None:
        db = sqlite3.connect(":memory:")
        db.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, content='', tokenize='{TOKENIZE}')")
        db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        _local.db = db
    return db


def tokenize(texts: Sequence[str]) -> list[Counter[str]]:
    """Each text's tokens and their counts, exactly as the SQLite store's full-text index has them."""
    db = _tokenizer()
    out: list[Counter[str]] = [Counter() for _ in texts]
    if not texts:
        return out
    with db:
        db.execute("INSERT INTO t(t) VALUES ('delete-all')")
        db.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", [(i, text) for i, text in enumerate(texts)])
        for doc, term, n in db.execute("SELECT doc, term, count(*) FROM v GROUP BY doc, term"):
            out[int(doc)][str(term)] = int(n)
        db.execute("INSERT INTO t(t) VALUES ('delete-all')")
    return out


def postings(texts: Sequence[str], base: int = 0) -> Postings:
    """Every token of the texts with the documents holding it (``base`` + the text's index,
    ascending) and how often each holds it: an inverted index in one pass. The view lists a
    token's instances together, so one group per token, with no sort (about 10 s per 100k
    long turns on one core; counting per document instead sorts every instance)."""
    db = _tokenizer()
    out: Postings = {}
    if not texts:
        return out
    with db:
        db.execute("INSERT INTO t(t) VALUES ('delete-all')")
        db.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", [(base + i, text) for i, text in enumerate(texts)])
        for term, docs in db.execute("SELECT term, group_concat(doc, ' ') FROM v GROUP BY term"):
            found = np.asarray(str(docs).split(" "), dtype=np.int32)
            at, tf = np.unique(found, return_counts=True)
            out[str(term)] = (at.astype(np.int32), np.minimum(tf, 65535).astype(np.uint16))
        db.execute("INSERT INTO t(t) VALUES ('delete-all')")
    return out


def query_tokens(terms: Sequence[str]) -> list[str]:
    """One token per query term, in order, duplicates kept (FTS5 scores each quoted term of the
    query as a phrase of its own, so two terms with one stem count twice). A term that makes
    several tokens (rare: word characters that unicode61 splits) adds each of them."""
    out: list[str] = []
    for counts in tokenize(list(terms)):
        out.extend(sorted(counts))
    return out


def phrase_tokens(terms: Sequence[str]) -> list[str] | None:
    """The one token of each query term, in order; None when a term makes no token or several
    (FTS5 matches those as a phrase of adjacent tokens, which only FTS5 evaluates)."""
    out: list[str] = []
    for counts in tokenize(list(terms)):
        if len(counts) != 1 or sum(counts.values()) != 1:
            return None
        out.extend(counts)
    return out
