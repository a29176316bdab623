"""The keyword tier of the SQLite store: big scopes are ranked by an in-memory BM25 index.

FTS5 stays the truth and the default. A scope that holds ``min_rows`` full-text rows or more
(5,000: where the FTS5 plan's two keyword lists already took 6-11 ms on 2 cores) gets
a keyword_index.KeywordIndex, built in a background thread from the scope's rows (about 10 s
per 100k long turns) while its searches stay on FTS5. Then:

- **Reads** rank in memory and need no SQL: the index holds what a plain read's visibility
  clause asks of each row (current, superseded, archived, expiry: keyword_index.States), so
  the best rows the read may see, and the visible members of the best windows, come from a
  mask, and so do a dated question's event-time filters (time_filter.py); reads with other
  filters, kinds or time travel, and queries FTS5 would treat as phrases, keep the FTS5 plan.
- **Appends** (new rows anywhere in the file: ``max(rowid)`` grew) are folded in on the next
  read: the scope's new rows (a rowid range scan) are tokenized and added, with the windows
  they key. Past ``max(EXTEND_MAX, REBUILD_SHARE x rows)`` appended rows a rebuild starts.
- **Any other change** (``meta.mutation_seq``: update, supersede, delete, restore, a derived
  write) drops the scope's index at once, so no deleted or replaced text ranks anything; a
  rebuild starts and reads use FTS5 until it is done. Nothing is written to disk.
- Indexes are held up to ``MAX_BYTES`` (least recently used first out; ~0.55 kB a long turn).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import numpy as np

from engramdb.core.errors import StoreError
from engramdb.core.models import Scope
from engramdb.core.ports import Facets, ReadSpec, Scored, ScoredList
from engramdb.stores.fts_tokens import phrase_tokens
from engramdb.stores.keyword_index import FacetRow, KeywordIndex, State, best, build
from engramdb.stores.sqlite_sql import scope_clause, ts
from engramdb.stores.time_filter import in_memory, time_mask

# the FTS5 plan's two keyword lists took 6-11 ms at 5-10k long turns in one scope, the tier's
# 1-3 ms, with the same answers (BENCHMARKS.md "The keyword tier")
KEYWORD_MIN_ROWS = 5_000
ENV_MIN_ROWS = "ENGRAM_KEYWORD_MIN_ROWS"  # another threshold; 0 turns the tier off
MAX_BYTES = 256_000_000
EXTEND_MAX = 2_000  # appended rows folded in by a read; more: a rebuild
REBUILD_SHARE = 0.05
_TEXT = "coalesce(m.speaker || ': ', '') || m.content"  # the indexed text (sql/sqlite/0001_init.sql)
_STATE = ("m.sys_to IS NULL, m.superseded_at IS NOT NULL, m.archived_at IS NOT NULL, m.expires_at, m.event_time, "
          "m.session_id, m.speaker, m.role")

Reader = Callable[[], AbstractContextManager[sqlite3.Connection]]
Key = tuple[object, ...]


def min_rows_from_env() -> int | None:
    """The threshold in force: ``$ENGRAM_KEYWORD_MIN_ROWS`` (0: no tier), else KEYWORD_MIN_ROWS."""
    raw = os.environ.get(ENV_MIN_ROWS, "").strip()
    value = int(raw) if raw.isdigit() else KEYWORD_MIN_ROWS
    return value or None


class KeywordTier:
    def __init__(self, reader: Reader, min_rows: int | None) -> None:
        self.min_rows = min_rows
        self._reader = reader
        self._indexes: OrderedDict[Key, KeywordIndex] = OrderedDict()
        self._sizes: dict[Key, tuple[int, int, bool]] = {}  # scope -> (mutation_seq, max rowid, big)
        self._building: dict[Key, threading.Thread] = {}
        self._lock = threading.RLock()
        self.failures: list[str] = []  # builds that could not read the store (closed under them)

    # ---- reads ------------------------------------------------------------------

    def turns(self, db: sqlite3.Connection, spec: ReadSpec, terms: Sequence[str], limit: int) -> list[Scored] | None:
        """The FTS5 plan's answer, from memory; None: use the FTS5 plan."""
        found = self._ready(db, spec, terms)
        if found is None:
            return None
        index, tokens = found
        scores = index.turn_scores(tokens)
        top = best(np.where(_mask(index, spec), scores, 0.0), limit)
        return [Scored(int(index.rowids[p]), float(scores[p])) for p in top]

    def windows(self, db: sqlite3.Connection, spec: ReadSpec, terms: Sequence[str], limit: int) -> ScoredList | None:
        """Turns scored by the best of the ``limit`` best windows whose key the read may see
        that hold them, the turns the read may see only (the FTS5 plan's window_search);
        None: use the FTS5 plan."""
        found = self._ready(db, spec, terms)
        if found is None:
            return None
        index, tokens = found
        mask = _mask(index, spec)
        scores = index.window_scores(tokens)
        top = best(np.where(mask[index.win_keys], scores, 0.0), limit)
        members = index.win_members[top]  # windows best first: a turn's first window is its best
        values = np.repeat(scores[top], members.shape[1])
        flat = members.ravel()
        keep = flat >= 0
        flat, values = flat[keep], values[keep]
        keep = mask[flat]
        flat, values = flat[keep], values[keep]
        refs = index.rowids[flat]
        _, first = np.unique(refs, return_index=True)
        order = sorted(first.tolist(), key=lambda i: (-float(values[i]), int(refs[i])))
        return [Scored(int(refs[i]), float(values[i])) for i in order]

    def facets(self, db: sqlite3.Connection, refs: Sequence[int]) -> tuple[dict[int, Facets], list[int]]:
        """The facets of the refs the held indexes know (current ones only), and the refs left."""
        with self._lock:
            held = list(self._indexes.values())
        if not held or not refs:
            return {}, list(refs)
        seq = int(db.execute("SELECT value FROM meta WHERE key = 'mutation_seq'").fetchone()[0])
        left = np.asarray(refs, np.int64)
        out: dict[int, Facets] = {}
        for index in held:
            if index.mutation_seq != seq or not len(left):
                continue
            at = index.positions(left)
            for ref, p in zip(left[at >= 0].tolist(), at[at >= 0].tolist(), strict=True):
                session, speaker, role = index.facets[p]
                out[ref] = Facets(session, speaker, datetime.fromtimestamp(index.states.times[p], tz=UTC), role)
            left = left[at < 0]
        return out, left.tolist()

    # ---- which index, kept current -------------------------------------------------

    def _ready(self, db: sqlite3.Connection, spec: ReadSpec,
               terms: Sequence[str]) -> tuple[KeywordIndex, list[str]] | None:
        if self.min_rows is None or not _plain(spec) or not terms:
            return None
        key = tuple(spec.scope.items())
        seq = int(db.execute("SELECT value FROM meta WHERE key = 'mutation_seq'").fetchone()[0])
        top = int(db.execute("SELECT coalesce(max(rowid), 0) FROM memories").fetchone()[0])
        with self._lock:
            index = self._current(db, key, spec.scope, seq, top)
            if index is None:
                if self._big(db, key, spec.scope, seq, top):
                    self._build_later(key, spec.scope)
                return None
        tokens = phrase_tokens(terms)
        return None if tokens is None else (index, tokens)

    def _current(self, db: sqlite3.Connection, key: Key, scope: Scope, seq: int, top: int) -> KeywordIndex | None:
        index = self._indexes.get(key)
        if index is None:
            return None
        if index.mutation_seq != seq:
            del self._indexes[key]  # rows changed in place: nothing of the old text may rank
            return None
        if top > index.file_max:
            index = self._append(db, key, scope, index, top)
            if index is None:
                return None
        self._indexes.move_to_end(key)
        return index

    def _append(self, db: sqlite3.Connection, key: Key, scope: Scope, index: KeywordIndex,
                top: int) -> KeywordIndex | None:
        where, params = scope_clause(scope)
        rows = db.execute(
            f"SELECT m.rowid, {_TEXT}, {_STATE} FROM memories AS m NOT INDEXED WHERE m.rowid > ? AND m.rowid <= ? "
            f"AND {where} ORDER BY m.rowid LIMIT ?", [index.file_max, top, *params, EXTEND_MAX + 1]).fetchall()
        if len(rows) > EXTEND_MAX:
            del self._indexes[key]
            self._build_later(key, scope)
            return None
        refs = [int(r[0]) for r in rows]
        windows = db.execute(f"SELECT rowid, members FROM windows_fts WHERE rowid IN ({','.join('?' * len(refs))}) "
                             "ORDER BY rowid", refs).fetchall() if refs else []
        index = index.extended([(int(r[0]), str(r[1])) for r in rows], [_state(r) for r in rows],
                               [_facets(r) for r in rows], [(int(r), str(m)) for r, m in windows], top)
        self._indexes[key] = index
        if index.appended > max(EXTEND_MAX, REBUILD_SHARE * index.rows):
            self._build_later(key, scope)
        return index

    def _big(self, db: sqlite3.Connection, key: Key, scope: Scope, seq: int, top: int) -> bool:
        """Whether the scope holds ``min_rows`` rows (remembered per mutation_seq and file size)."""
        assert self.min_rows is not None
        known = self._sizes.get(key)
        if known is not None and known[0] == seq and (known[2] or known[1] == top):
            return known[2]
        where, params = scope_clause(scope)
        n = int(db.execute(f"SELECT count(*) FROM (SELECT 1 FROM memories m WHERE {where} LIMIT ?)",
                           [*params, self.min_rows]).fetchone()[0])
        if len(self._sizes) > 4096:
            self._sizes.clear()
        self._sizes[key] = (seq, top, n >= self.min_rows)
        return n >= self.min_rows

    # ---- building -------------------------------------------------------------------

    def _build_later(self, key: Key, scope: Scope) -> None:
        running = self._building.get(key)
        if running is not None and running.is_alive():
            return
        thread = threading.Thread(target=self._build, args=(key, scope), name="engram-keyword-index", daemon=True)
        self._building[key] = thread
        thread.start()

    def _build(self, key: Key, scope: Scope) -> None:
        where, params = scope_clause(scope)
        try:
            with self._reader() as db:
                seq = int(db.execute("SELECT value FROM meta WHERE key = 'mutation_seq'").fetchone()[0])
                top = int(db.execute("SELECT coalesce(max(rowid), 0) FROM memories").fetchone()[0])
                rows = db.execute(f"SELECT m.rowid, {_TEXT}, {_STATE} FROM memories m WHERE {where} ORDER BY m.rowid",
                                  params).fetchall()
                windows = db.execute(
                    f"SELECT w.rowid, w.members FROM windows_fts w JOIN memories m ON m.rowid = w.rowid "
                    f"WHERE {where} ORDER BY w.rowid", params).fetchall()
        except (StoreError, sqlite3.Error) as exc:  # the store closed under the build: FTS5 stays
            self.failures.append(str(exc))
            return
        index = build([(int(r[0]), str(r[1])) for r in rows], [_state(r) for r in rows], [_facets(r) for r in rows],
                      [(int(r), str(m)) for r, m in windows], mutation_seq=seq, file_max=top)
        with self._lock:
            held = self._indexes.get(key)
            if held is not None and (held.mutation_seq, held.file_max) > (index.mutation_seq, index.file_max):
                return
            self._indexes[key] = index
            self._indexes.move_to_end(key)
            while len(self._indexes) > 1 and sum(i.bytes() for i in self._indexes.values()) > MAX_BYTES:
                self._indexes.popitem(last=False)

    # ---- tests and benchmarks ----------------------------------------------------------

    def wait(self, timeout: float | None = None) -> None:
        """Wait for background builds."""
        for thread in list(self._building.values()):
            thread.join(timeout)

    def loaded(self) -> int:
        with self._lock:
            return len(self._indexes)

    def held_bytes(self) -> int:
        with self._lock:
            return sum(index.bytes() for index in self._indexes.values())


def _plain(spec: ReadSpec) -> bool:
    """A read the tier answers: no kinds or time travel, no filters but event-time ranges."""
    return in_memory(spec.filters) and not spec.kinds and spec.as_of is None and spec.valid_at is None


def _state(row: Sequence[Any]) -> State:
    return int(row[2]), int(row[3]), int(row[4]), None if row[5] is None else float(row[5]), float(row[6])


def _facets(row: Sequence[Any]) -> FacetRow:
    return row[7], row[8], row[9]


def _mask(index: KeywordIndex, spec: ReadSpec) -> Any:
    """The rows of the index the read may see."""
    mask = index.states.visible(include_superseded=spec.include_superseded, include_archived=spec.include_archived,
                                at=None if spec.at is None else ts(spec.at))
    if spec.filters is not None:
        dated = time_mask(spec.filters, index.states.times)
        assert dated is not None  # _plain admitted only such filters
        mask &= dated
    return mask
