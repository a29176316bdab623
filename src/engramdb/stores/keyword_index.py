"""An in-memory BM25 index of one big scope: FTS5's ranking, computed over arrays.

FTS5 ranks a MATCH by calling ``bm25()`` on every matching row and sorting them all; in a
scope of 100k long turns a common query word matches tens of thousands of rows, and the two
keyword lists (turns, episode windows) took most of a search (~70 of ~90 ms). Here the same
formula runs over postings held in numpy arrays, a word at a time:

- **Turns**: one posting list per token (the token's rows and counts, from FTS5's own tokenizer:
  fts_tokens.py), each row's length in tokens; a query adds each token's contribution to a
  dense score array. ``bm25()``'s arithmetic is reproduced operation for operation (k1 = 1.2,
  b = 0.75, idf clamped at 1e-6, phrases summed in query order), so with the same statistics
  the scores are bit-identical and the order (score, then rowid) is FTS5's.
- **Episode windows** are not indexed twice: a window's count of a token is the sum of its
  members' counts and its length the sum of theirs (its text is their texts joined by newlines,
  which the tokenizer splits on), so each token's turn postings are spread to the windows
  holding each turn (at most five) with one ``bincount``.
- **Statistics** (rows, average length, rows holding a token) are the scope's. In a file
  holding one scope they are FTS5's, and the results equal the FTS5 plan's; in a shared file a
  big scope ranks with its own statistics, as the PostgreSQL store ranks every scope.

An index is immutable: appending rows makes a new one that shares the built arrays and keeps
the new rows' postings in a small ``delta`` (keyword_tier.py decides when to rebuild).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from engramdb.stores.fts_tokens import Postings, postings

K1, B = 1.2, 0.75  # FTS5's bm25() (fts5_aux.c)
MIN_IDF = 1e-6  # FTS5 clamps the idf of a token in more than half of the rows to this
WIDTH = 5  # turns per episode window (sql/sqlite/0002_windows.sql: LIMIT 5)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
# sys_to IS NULL, superseded_at IS NOT NULL, archived, expires_at, event_time
State = tuple[int, int, int, float | None, float]
# session_id, speaker, role: what Store.facets returns beside event_time (never changed in place)
FacetRow = tuple[str | None, str | None, str | None]


@dataclass(frozen=True)
class Terms:
    """Posting lists: built once (CSR arrays) plus the rows appended since (``delta``)."""

    vocab: dict[str, int]
    offsets: Ints
    docs: npt.NDArray[np.int32]
    counts: npt.NDArray[np.uint16]
    delta: Postings

    def get(self, token: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint16]]:
        at = self.vocab.get(token)
        docs: npt.NDArray[np.int32] = np.empty(0, np.int32)
        counts: npt.NDArray[np.uint16] = np.empty(0, np.uint16)
        if at is not None:
            lo, hi = int(self.offsets[at]), int(self.offsets[at + 1])
            docs, counts = self.docs[lo:hi], self.counts[lo:hi]
        more = self.delta.get(token)
        if more is not None:
            docs, counts = np.concatenate([docs, more[0]]), np.concatenate([counts, more[1]])
        return docs, counts

    def bytes(self) -> int:
        return int(self.offsets.nbytes + self.docs.nbytes + self.counts.nbytes
                   + sum(d.nbytes + c.nbytes for d, c in self.delta.values()))


@dataclass(frozen=True)
class States:
    """What a plain read's visibility clause (sql_common.visibility_clause) asks of each row, held
    so that reads need no SQL: rows after a big text column cost an overflow-page walk each
    (~6 us a row at 100k long turns). Only a change that bumps ``mutation_seq`` alters these
    columns of a held row, and such a change drops the index."""

    current: Bools  # sys_to IS NULL
    superseded: Bools  # superseded_at IS NOT NULL
    archived: Bools  # archived_at IS NOT NULL
    expires: Floats  # expires_at, +inf where none
    times: Floats  # event_time: a dated question's filter (time_filter.py)

    @staticmethod
    def of(states: Sequence[State]) -> States:
        table = np.asarray([(c, s, a, np.inf if e is None else e, t) for c, s, a, e, t in states], np.float64)
        table = table.reshape(len(states), 5)
        return States(table[:, 0] > 0, table[:, 1] > 0, table[:, 2] > 0, table[:, 3].copy(), table[:, 4].copy())

    def __add__(self, other: States) -> States:
        return States(*(np.concatenate([a, b]) for a, b in zip(self.arrays(), other.arrays(), strict=True)))

    def arrays(self) -> tuple[npt.NDArray[Any], ...]:
        return self.current, self.superseded, self.archived, self.expires, self.times

    def visible(self, *, include_superseded: bool, include_archived: bool, at: float | None) -> Bools:
        """The rows a read without filters, kinds or time travel may see."""
        mask = self.current | self.superseded if include_superseded else self.current.copy()
        if at is not None:
            mask &= self.expires > at
        if not include_archived:
            mask &= ~self.archived
        return mask


@dataclass(frozen=True)
class KeywordIndex:
    """One scope's rows (positions in rowid order) and episode windows, as of ``mutation_seq``
    and the file's rows up to ``file_max``."""

    mutation_seq: int
    file_max: int
    rowids: Ints  # ascending: position -> rowid
    lengths: Floats  # tokens per row
    terms: Terms
    win_keys: Ints  # each window's key (its last turn), as a position
    win_members: npt.NDArray[np.int32]  # (windows, WIDTH) positions, -1 where a window is shorter
    win_lengths: Floats
    holding: npt.NDArray[np.int32]  # (rows, WIDTH) the windows holding each row, -1 padded
    states: States
    facets: list[FacetRow]  # by position
    appended: int = 0  # rows added after the build (their postings are in terms.delta)

    @property
    def rows(self) -> int:
        return len(self.rowids)

    def bytes(self) -> int:
        arrays: tuple[npt.NDArray[Any], ...] = (self.rowids, self.lengths, self.win_keys, self.win_members,
                                                self.win_lengths, self.holding, *self.states.arrays())
        return self.terms.bytes() + sum(a.nbytes for a in arrays)

    def positions(self, refs: Ints) -> Ints:
        """Each rowid's position in the index, -1 where it holds no such row."""
        if not self.rows or not len(refs):
            return np.full(len(refs), -1, np.int64)
        at = np.minimum(np.searchsorted(self.rowids, refs), self.rows - 1)
        return np.where(self.rowids[at] == refs, at, -1).astype(np.int64)

    # the scope's average lengths (the index is immutable: summed once, not per query)
    @cached_property
    def _avgdl(self) -> float:
        return float(self.lengths.sum()) / float(self.rows)

    @cached_property
    def _window_avgdl(self) -> float:
        return float(self.win_lengths.sum()) / float(len(self.win_keys))

    # ---- ranking ----------------------------------------------------------------

    def turn_scores(self, tokens: Sequence[str]) -> Floats:
        """BM25 of every row (0: no token matched), FTS5's formula and order of operations."""
        n = self.rows
        scores = np.zeros(n, np.float64)
        if not n:
            return scores
        avgdl = self._avgdl
        for token in tokens:
            docs, counts = self.terms.get(token)
            if len(docs):
                scores[docs] += _bm25(_idf(n, len(docs)), counts.astype(np.float64), self.lengths[docs], avgdl)
        return scores

    def window_scores(self, tokens: Sequence[str]) -> Floats:
        """BM25 of every window (0: no token matched), from its members' postings."""
        n = len(self.win_keys)
        scores = np.zeros(n, np.float64)
        if not n:
            return scores
        avgdl = self._window_avgdl
        for token in tokens:
            docs, counts = self.terms.get(token)
            if not len(docs):
                continue
            windows = self.holding[docs].ravel()
            weights = np.repeat(counts.astype(np.float64), WIDTH)
            held = windows >= 0
            touched = windows[held]
            tf: Floats = np.bincount(touched, weights=weights[held], minlength=n).astype(np.float64)
            # the windows holding the token: few of them are found faster by sorting than by a scan
            hit = np.unique(touched) if len(touched) * 256 < n else np.flatnonzero(tf > 0)
            if len(hit):
                scores[hit] += _bm25(_idf(n, len(hit)), tf[hit], self.win_lengths[hit], avgdl)
        return scores

    # ---- growing ----------------------------------------------------------------

    def extended(self, rows: Sequence[tuple[int, str]], states: Sequence[State], facets: Sequence[FacetRow],
                 windows: Sequence[tuple[int, str]], file_max: int) -> KeywordIndex:
        """A new index with ``rows`` (rowid, text; rowids above every held one) with their
        ``states`` and ``facets`` and the windows keyed by them (rowid, members) appended."""
        if not rows:
            return replace(self, file_max=file_max)
        base = self.rows
        new = postings([text for _, text in rows], base)
        delta = dict(self.terms.delta)
        for token, (docs, counts) in new.items():
            old = delta.get(token)
            delta[token] = (docs, counts) if old is None else \
                (np.concatenate([old[0], docs]), np.concatenate([old[1], counts]))
        rowids = np.concatenate([self.rowids, np.asarray([r for r, _ in rows], np.int64)])
        lengths = np.concatenate([self.lengths, _lengths(new, base, len(rows))])
        keys, members = _windows(windows, rowids)
        first = len(self.win_keys)
        holding = np.concatenate([self.holding, np.full((len(rows), WIDTH), -1, np.int32)])
        _hold(holding, members, first)
        return replace(self, file_max=file_max, rowids=rowids, lengths=lengths,
                       terms=replace(self.terms, delta=delta),
                       win_keys=np.concatenate([self.win_keys, keys]),
                       win_members=np.concatenate([self.win_members, members]),
                       win_lengths=np.concatenate([self.win_lengths, _window_lengths(members, lengths)]),
                       holding=holding, states=self.states + States.of(states), facets=self.facets + list(facets),
                       appended=self.appended + len(rows))


def build(rows: Sequence[tuple[int, str]], states: Sequence[State], facets: Sequence[FacetRow],
          windows: Sequence[tuple[int, str]], *, mutation_seq: int, file_max: int) -> KeywordIndex:
    """The index of a scope's full-text rows (rowid, indexed text; rowid ascending) with their
    states, and of its episode windows (key rowid, members as windows_fts holds them)."""
    rowids = np.asarray([r for r, _ in rows], np.int64)
    found = postings([text for _, text in rows])
    vocab = {token: i for i, token in enumerate(found)}
    sizes = np.asarray([len(d) for d, _ in found.values()], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    docs = np.concatenate([d for d, _ in found.values()]) if found else np.empty(0, np.int32)
    counts = np.concatenate([c for _, c in found.values()]) if found else np.empty(0, np.uint16)
    lengths = _lengths(found, 0, len(rows))
    keys, members = _windows(windows, rowids)
    holding = np.full((len(rows), WIDTH), -1, np.int32)
    _hold(holding, members, 0)
    return KeywordIndex(mutation_seq, file_max, rowids, lengths,
                        Terms(vocab, offsets, docs.astype(np.int32), counts.astype(np.uint16), {}),
                        keys, members, _window_lengths(members, lengths), holding, States.of(states), list(facets))


def best(scores: Floats, want: int) -> Ints:
    """Positions of the ``want`` best positive scores, by score then position (FTS5's rowid order)."""
    hit = np.flatnonzero(scores > 0)
    if len(hit) > want:
        values = scores[hit]
        cut = np.partition(values, len(values) - want)[len(values) - want]  # the want-th best value
        above = hit[values > cut]
        level = hit[values == cut][:want - len(above)]  # ties at the cut: the lowest positions
        hit = np.concatenate([above, level])
    order = np.lexsort((hit, -scores[hit]))
    return hit[order].astype(np.int64)


def _idf(rows: int, holding: int) -> float:
    idf = math.log((rows - holding + 0.5) / (holding + 0.5))
    return idf if idf > 0.0 else MIN_IDF


def _bm25(idf: float, tf: Floats, length: Floats, avgdl: float) -> Floats:
    # fts5_aux.c: aIDF[i] * (aFreq[i] * (k1 + 1.0)) / (aFreq[i] + k1 * (1 - b + b * D / avgdl))
    out: Floats = (idf * (tf * (K1 + 1.0))) / (tf + K1 * (1 - B + B * length / avgdl))
    return out


def _lengths(found: Postings, base: int, n: int) -> Floats:
    if not found:
        return np.zeros(n, np.float64)
    docs = np.concatenate([d for d, _ in found.values()]).astype(np.int64) - base
    counts = np.concatenate([c for _, c in found.values()]).astype(np.float64)
    total: Floats = np.bincount(docs, weights=counts, minlength=n).astype(np.float64)
    return total


def _windows(windows: Sequence[tuple[int, str]], rowids: Ints) -> tuple[Ints, npt.NDArray[np.int32]]:
    """Window keys and members as positions in ``rowids`` (-1: a member not held)."""
    keys = np.asarray([k for k, _ in windows], np.int64)
    members = np.full((len(windows), WIDTH), -1, np.int64)
    for i, (_, held) in enumerate(windows):
        listed = [int(m) for m in held.split()][:WIDTH]
        members[i, :len(listed)] = listed
    out = np.full(members.shape, -1, np.int32)
    if len(rowids) and members.size:
        at = np.minimum(np.searchsorted(rowids, members), len(rowids) - 1)
        known = (members >= 0) & (rowids[at] == members)
        out[known] = at[known]
    key_at = np.minimum(np.searchsorted(rowids, keys), max(len(rowids) - 1, 0)) if len(rowids) else keys
    return np.asarray(key_at, np.int64), out


def _window_lengths(members: npt.NDArray[np.int32], lengths: Floats) -> Floats:
    if not len(members):
        return np.empty(0, np.float64)
    padded = np.concatenate([lengths, [0.0]])
    out: Floats = padded[members].sum(axis=1)  # -1 reads the appended 0
    return out


def _hold(holding: npt.NDArray[np.int32], members: npt.NDArray[np.int32], first: int) -> None:
    """Record window ``first + i`` as holding each member of row i of ``members``, in the next
    free slot of the member's row of ``holding`` (in place)."""
    windows, slots = np.nonzero(members >= 0)
    if not len(windows):
        return
    pos = members[windows, slots].astype(np.int64)
    order = np.argsort(pos, kind="stable")
    pos, windows = pos[order], windows[order] + first
    start = np.searchsorted(pos, pos, side="left")  # rank of each pair among its member's pairs
    free = (holding[pos] >= 0).sum(axis=1)  # slots already taken (an extended index)
    slot = free + (np.arange(len(pos)) - start)
    fits = slot < WIDTH
    holding[pos[fits], slot[fits]] = windows[fits].astype(np.int32)
