"""Export -> import into a fresh store gives the same memory: list, history, windows, search.

The scope holds turns in several sessions, content and timestamp-only updates,
supersessions and deletes. Deleted ids are compared by the erasure suite (their
tombstones); here only the surviving ids. The source holds only the exported scope: BM25
term statistics are global to a store, so another scope's text would change the scores.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engramdb import Memory
from engramdb.stores.sqlite import SQLiteStore

QUERIES = ["tournament turtles", "what did Ann adopt", "weekend plans", "vegan", "piano lessons",
           "Tofu", "practice on Monday", "moving to Lisbon"]


def _session(day: int, lines: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"role": "user" if who == "Ann" else "assistant", "speaker": who, "content": text,
             "timestamp": f"2024-05-{day:02d}T10:{i:02d}:00Z"} for i, (who, text) in enumerate(lines)]


def populate(m: Memory) -> None:
    s1 = m.add(_session(1, [("Ann", "I won the regional tournament yesterday!"),
                            ("Bot", "Congrats! How will you mark it?"),
                            ("Ann", "A quiet weekend with my turtles."),
                            ("Bot", "Sounds lovely."),
                            ("Ann", "Then back to practice on Monday."),
                            ("Bot", "Good luck with it.")]), user_id="ann", session_id="s1")
    s2 = m.add(_session(2, [("Ann", "I adopted a cat called Miso"),
                            ("Bot", "Congratulations on Miso!"),
                            ("Ann", "I also started piano lessons."),
                            ("Bot", "Which pieces are you learning?"),
                            ("Ann", "Mostly Satie for now.")]), user_id="ann", session_id="s2")
    s3 = m.add(_session(3, [("Ann", "We are moving to Lisbon in June."),
                            ("Bot", "Exciting! Have you found a flat?"),
                            ("Ann", "Not yet, still looking."),
                            ("Bot", "Good luck with the search.")]), user_id="ann", session_id="s3")
    m.update(s1[2].id, content="A quiet weekend with my turtles and a good book.")  # content update, mid-session
    m.update(s2[0].id, timestamp="2024-05-02T10:00:30Z")  # timestamp-only, keeps its place in s2
    m.update(s2[2].id, timestamp="2024-05-02T10:02:10Z")  # timestamp-only, twice
    m.update(s2[2].id, content="I also started piano lessons on Tuesdays.")
    m.supersede(s3[2].id, "We found a flat near the river.", timestamp="2024-05-03T10:02:00Z")
    fact = m.add("Ann is vegetarian", user_id="ann", kind="fact")[0]
    m.supersede(fact.id, "Ann is vegan since 2024")
    m.add("Ann's cats: Miso and Tofu", user_id="ann", kind="note")
    m.delete(s1[3].id)  # a live turn in the middle of a session
    m.delete(m.add("to be forgotten", user_id="ann", kind="note")[0].id)


def export(m: Memory, **scope: str) -> str:
    buf = io.StringIO()
    m.export_jsonl(buf, **scope)
    return buf.getvalue()


def windows(path: Path, user_id: str) -> list[tuple[str, tuple[str, ...], str]]:
    """Each current turn's keyword window: (its memory id, member memory ids, body)."""
    db = sqlite3.connect(path)
    try:
        ids = {rowid: mid for rowid, mid in db.execute("SELECT rowid, id FROM memories")}
        rows = db.execute(
            "SELECT w.rowid, w.members, w.body FROM windows_fts w JOIN memories m ON m.rowid = w.rowid "
            "WHERE m.sys_to IS NULL AND m.user_id = ?", (user_id,)).fetchall()
    finally:
        db.close()
    return sorted((ids[r], tuple(ids[int(x)] for x in str(members).split()), body) for r, members, body in rows)


def dense_windows(m: Memory, user_id: str) -> list[tuple[str, float]]:
    from engramdb.core.models import Scope
    from engramdb.core.ports import ReadSpec

    spec = ReadSpec(Scope(user_id=user_id))
    out = []
    for q in QUERIES:
        scored = m.store.window_vector_search(spec, m.embedder.embed_query(q), m.embedder.model_id, 20)
        records = m.store.fetch([s.ref for s in scored])
        out += [(records[s.ref].id, round(s.score, 6)) for s in scored]
    return out


def searches(m: Memory) -> list[list[tuple[str, float]]]:
    return [[(h.record.id, round(h.score, 9)) for h in m.search(q, user_id="ann", k=8).hits] for q in QUERIES]


def test_export_then_import_gives_the_same_memory(tmp_path):
    src = Memory(tmp_path / "src.db", embedder="hash", background=False)
    dst = Memory(tmp_path / "dst.db", embedder="hash", background=False)
    try:
        populate(src)
        dump = export(src, user_id="ann")
        assert dst.import_jsonl(io.StringIO(dump)) > 0

        live = src.list(user_id="ann", limit=1000)
        assert [r.to_dict() for r in dst.list(user_id="ann", limit=1000)] == [r.to_dict() for r in live]
        assert [r.to_dict() for r in dst.list(user_id="ann", include_superseded=True, limit=1000)] == \
            [r.to_dict() for r in src.list(user_id="ann", include_superseded=True, limit=1000)]
        for rec in src.list(user_id="ann", include_superseded=True, limit=1000):
            assert [e.to_dict() for e in dst.history(rec.id)] == [e.to_dict() for e in src.history(rec.id)]

        assert windows(tmp_path / "dst.db", "ann") == windows(tmp_path / "src.db", "ann")
        assert dense_windows(dst, "ann") == dense_windows(src, "ann")
        assert searches(dst) == searches(src)
        assert export(dst) == dump  # and the copy exports what it was given
    finally:
        src.close()
        dst.close()


def test_a_timestamp_only_update_keeps_the_turn_in_place_in_its_windows(tmp_path):
    m = Memory(tmp_path / "m.db", embedder="hash", background=False)
    try:
        turns = m.add(_session(1, [("Ann", f"turn number {i}") for i in range(6)]), user_id="ann", session_id="s")
        before = windows(tmp_path / "m.db", "ann")
        m.update(turns[1].id, timestamp="2024-05-01T10:01:30Z")  # still between turns 1 and 2
        assert windows(tmp_path / "m.db", "ann") == before
        m.update(turns[1].id, timestamp="2024-05-01T10:09:00Z")  # now truly the last turn
        last = dict((key, members) for key, members, _ in windows(tmp_path / "m.db", "ann"))
        assert last[turns[1].id] == tuple(t.id for t in (turns[1], turns[5], turns[4], turns[3], turns[2]))
        assert last[turns[2].id] == (turns[2].id, turns[0].id)
    finally:
        m.close()


@pytest.mark.parametrize("direction", ["sqlite->postgres", "postgres->sqlite"])
def test_an_export_moves_between_the_stores(direction: str, request: pytest.FixtureRequest,
                                            tmp_path: Path) -> None:
    """A scope exported from one store and imported into the other is the same memory there: the
    same records and versions, history, tombstones, export text and search results (issue 13)."""
    from tests.support.pg_fixtures import pg_store

    made = {"sqlite": SQLiteStore(tmp_path / "copy.db"), "postgres": pg_store(request, "copy")}
    first, second = direction.split("->")
    src = Memory(store=made[first], embedder="hash", background=False)
    dst = Memory(store=made[second], embedder="hash", background=False)
    try:
        populate(src)
        dump = export(src, user_id="ann")
        assert dst.import_jsonl(io.StringIO(dump)) > 0
        for read in ({}, {"include_superseded": True}):
            assert [r.to_dict() for r in dst.list(user_id="ann", limit=1000, **read)] == \
                [r.to_dict() for r in src.list(user_id="ann", limit=1000, **read)]
        for rec in src.list(user_id="ann", include_superseded=True, limit=1000):
            assert [e.to_dict() for e in dst.history(rec.id)] == [e.to_dict() for e in src.history(rec.id)]
        assert export(dst) == dump
        assert dense_windows(dst, "ann") == dense_windows(src, "ann")
        mine, theirs = searches(dst), searches(src)  # the same hits; scores equal to float32 rounding
        assert [[i for i, _ in hits] for hits in mine] == [[i for i, _ in hits] for hits in theirs]
        assert [s for hits in mine for _, s in hits] == pytest.approx([s for hits in theirs for _, s in hits],
                                                                       abs=1e-6)
    finally:
        src.close()
        dst.close()
