"""A session's order is its turns' (event_time, id), not the order rows were written in.

Windows (keyword and dense) and neighbours (Store.adjacent) follow it through
every write: an append, a turn dated in the middle of a session, updates (even
timestamp-only), supersede, delete, and databases written before it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from tests.support.schema import UNDO_JOBS
from tests.support.windows import keyword_windows as store_windows

from engramdb import Memory
from engramdb.core.models import MemoryRecord, Scope
from engramdb.core.ports import ReadSpec
from engramdb.stores import sqlite_conn

SPEC = ReadSpec(Scope(user_id="u"))


def turn(minute: float, text: str) -> dict[str, str]:
    whole, frac = int(minute), round((minute % 1) * 60)
    return {"role": "user", "content": text, "timestamp": f"2024-05-01T10:{whole:02d}:{frac:02d}Z"}


def session(m: Memory, n: int = 8) -> list[MemoryRecord]:
    return m.add([turn(i, f"turn {i} about topic{i}") for i in range(n)], user_id="u", session_id="s")


def in_order(m: Memory) -> list[MemoryRecord]:
    return sorted(m.list(user_id="u", limit=1000), key=lambda r: (r.event_time, r.id))


def keyword_windows(m: Memory) -> dict[str, tuple[str, ...]]:
    """Each current turn's keyword window as member ids (read from the store's window index)."""
    return store_windows(m.store)


def ref_of(m: Memory, rec: MemoryRecord, word: str) -> int:
    scored = m.store.text_search(SPEC, [word], 20)
    return next(s.ref for s in scored if m.store.fetch([s.ref])[s.ref].id == rec.id)


def expected_windows(turns: list[MemoryRecord]) -> dict[str, tuple[str, ...]]:
    return {t.id: tuple(x.id for x in reversed(turns[max(0, i - 4):i + 1])) for i, t in enumerate(turns)}


def test_a_turn_dated_in_the_middle_joins_the_windows_after_it(memory_factory):
    m = memory_factory()
    session(m)
    m.add([turn(2.5, "a middle turn")], user_id="u", session_id="s")
    ordered = in_order(m)
    assert ordered[3].content == "a middle turn"
    assert keyword_windows(m) == expected_windows(ordered)


@pytest.mark.parametrize("change", ["content", "timestamp", "both"])
def test_an_update_keeps_the_turn_in_place(memory_factory, change):
    m = memory_factory()
    turns = session(m)
    if change in ("content", "both"):
        m.update(turns[2].id, content="turn 2 about topic2, edited")
    if change in ("timestamp", "both"):
        m.update(turns[2].id, timestamp="2024-05-01T10:02:30Z")
    ordered = in_order(m)
    assert [r.id for r in ordered] == [t.id for t in turns]
    assert keyword_windows(m) == expected_windows(ordered)
    ref = ref_of(m, turns[2], "topic2")
    near = m.store.adjacent([ref], SPEC, 2)[ref]
    got = {offset: m.store.fetch([n])[n].id for n, offset in near}
    assert got == {-2: turns[0].id, -1: turns[1].id, 1: turns[3].id, 2: turns[4].id}


def test_a_timestamp_update_moves_the_turn_to_its_new_time(memory_factory):
    m = memory_factory()
    turns = session(m)
    m.update(turns[6].id, timestamp="2024-05-01T10:00:30Z")
    ordered = in_order(m)
    assert ordered[1].id == turns[6].id
    assert keyword_windows(m) == expected_windows(ordered)


def test_supersede_and_delete_keep_the_order(memory_factory):
    m = memory_factory()
    turns = session(m)
    m.supersede(turns[1].id, "turn 1 about topic1, as it really was", timestamp="2024-05-01T10:01:00Z")
    m.delete(turns[4].id)
    ordered = in_order(m)
    assert [r.content for r in ordered][:2] == ["turn 0 about topic0", "turn 1 about topic1, as it really was"]
    assert keyword_windows(m) == expected_windows(ordered)


def test_dense_windows_follow_the_session_order(memory_factory):
    m = memory_factory()
    turns = session(m, 6)
    q = m.embedder.embed_query("turn about topic2 topic3")
    m.store.window_vector_search(SPEC, q, m.embedder.model_id, 50)  # caches the scope's matrix
    m.add([turn(2.5, "a middle turn about topic3")], user_id="u", session_id="s")  # appended to the cache
    m.update(turns[1].id, timestamp="2024-05-01T10:01:30Z")
    ordered = in_order(m)
    got = {m.store.fetch([s.ref])[s.ref].id: s.score
           for s in m.store.window_vector_search(SPEC, q, m.embedder.model_id, 50)}
    vecs = m.embedder.embed_documents([r.index_text for r in ordered])
    window = []
    for end in range(len(ordered)):
        c = vecs[max(0, end - 2):end + 1].sum(axis=0)
        window.append(float(c @ q / np.linalg.norm(c)))
    for i, rec in enumerate(ordered):
        assert got[rec.id] == pytest.approx(max(window[i:i + 3]), abs=1e-5)


def test_a_database_from_before_the_session_order_is_rebuilt_on_open(tmp_path, monkeypatch):
    path: Path = tmp_path / "old.db"
    every = sqlite_conn.migrations()
    # today's code needs the queue's tables, the lifecycle and the retention columns: lend them to version 2
    jobs = dict(every)[5] + dict(every)[6] + dict(every)[7]
    monkeypatch.setattr(sqlite_conn, "migrations",
                        lambda: [(n, sql + jobs if n == 2 else sql) for n, sql in every if n <= 2])
    m = Memory(path, embedder="hash", background=False)
    turns = session(m)
    m.update(turns[1].id, timestamp="2024-05-01T10:01:30Z")  # a version-2 store moves it to the end
    old = keyword_windows(m)
    m.close()
    db = sqlite3.connect(path)
    db.executescript(UNDO_JOBS)
    db.close()
    monkeypatch.setattr(sqlite_conn, "migrations", lambda: every)
    m = Memory(path, embedder="hash", background=False)
    try:
        ordered = in_order(m)
        assert [r.id for r in ordered] == [t.id for t in turns]
        assert old != expected_windows(ordered)
        assert keyword_windows(m) == expected_windows(ordered)
    finally:
        m.close()
