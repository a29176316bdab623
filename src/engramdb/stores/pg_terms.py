"""Tokens for the PostgreSQL store's BM25, made by SQLite's own FTS5 tokenizer.

The SQLite store indexes text with FTS5's ``porter unicode61 remove_diacritics 2``. No
PostgreSQL text search configuration splits and stems the same way (``english`` is Porter2
with stop words; its parser keeps e-mail addresses, URLs, hyphenated words and decimal
numbers whole), and a BM25 over other tokens ranks differently. So the tokens are made in
process by the same tokenizer, through an in-memory FTS5 table and its ``fts5vocab``
instance view, and stored as arrays (memory_terms, migration 0002): both stores rank the same
tokens with the same formula.
"""

from __future__ import annotations

from collections.abc import Sequence

from engramdb.stores.fts_tokens import TOKENIZE, query_tokens, tokenize
from engramdb.stores.pg_conn import Cursor

__all__ = ["MAX_LEXEME_BYTES", "TOKENIZE", "index_rows", "query_tokens", "tokenize", "tsquery"]

MAX_LEXEME_BYTES = 2046  # a longer token cannot be a tsvector lexeme (it is still counted)


def tsquery(tokens: Sequence[str]) -> str:
    """A tsquery matching any of the tokens (quoted lexemes: no text search syntax, no stemming)."""
    quoted = {"'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in tokens
              if len(t.encode()) <= MAX_LEXEME_BYTES}
    return " | ".join(sorted(quoted))


def index_rows(cur: Cursor, refs: Sequence[int]) -> None:
    """Index the text of these memories rows (MemoryRecord.index_text) in memory_terms, in one
    statement; the triggers of migration 0002 update the statistics and the episode windows."""
    if not refs:
        return
    cur.execute("SELECT ref, coalesce(user_id, ''), index_text FROM memories WHERE ref = ANY(%s) ORDER BY ref",
                (list(refs),))
    rows = cur.fetchall()
    counts = tokenize([str(r[2]) for r in rows])
    terms = [sorted(c) for c in counts]
    cur.execute(
        "INSERT INTO memory_terms (ref, bucket, terms, freqs, len, tsv) "
        "SELECT r.ref, r.bucket, string_to_array(r.terms, ' '), string_to_array(r.freqs, ' ')::integer[], r.len, "
        "array_to_tsvector(string_to_array(r.lexemes, ' ')) "
        "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::integer[], %s::text[]) "
        "AS r(ref, bucket, terms, freqs, len, lexemes)",
        ([int(r[0]) for r in rows], [str(r[1]) for r in rows],
         [" ".join(t) for t in terms], [" ".join(str(c[w]) for w in t) for c, t in zip(counts, terms, strict=True)],
         [sum(c.values()) for c in counts],
         [" ".join(w for w in t if len(w.encode()) <= MAX_LEXEME_BYTES) for t in terms]),
    )
