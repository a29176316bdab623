"""Erasure leaves nothing: after a delete the raw bytes of the database file, its -wal and its
-shm hold no trace of the deleted text, names or versions (README "Erasure"). On PostgreSQL the
same tests read every row of the database (pg_dump): no live row, index table or vector keeps a
trace (dead tuples wait for VACUUM, which is PostgreSQL's business)."""

from __future__ import annotations

import io
import json
import sqlite3
import uuid
from pathlib import Path

import pytest
from tests.support.pg_fixtures import DbFactory, pg_dump
from tests.support.probe import Probe
from tests.support.schema import UNDO_JOBS

from engramdb import Memory
from engramdb.core.errors import ConflictError, NotFoundError
from engramdb.core.models import Action
from engramdb.stores.sqlite import SQLiteStore

FILLER = [f"ordinary note number {i} about lunch, the weather and a walk in the park" for i in range(40)]


def secret(tag: str) -> str:
    """A unique token that the tokenizer and the stemmer keep as it is (lowercase, ends in a digit)."""
    return f"{tag}{uuid.uuid4().hex[:12]}q7"


def _blobs(path: Path | str) -> list[bytes]:
    if isinstance(path, str):
        return [pg_dump(path)]
    return [p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def raw_hits(path: Path | str, *needles: str) -> dict[str, int]:
    """Occurrences of each needle, and of its last 8 characters (the FTS index stores terms
    prefix-compressed), in the database file and its -wal and -shm (PostgreSQL: its rows)."""
    blobs = _blobs(path)
    out = {}
    for needle in needles:
        for probe in {needle, needle[-8:]}:
            out[probe] = sum(b.count(probe.encode()) for b in blobs)
    return out


def no_trace(path: Path | str, *needles: str) -> bool:
    return not any(raw_hits(path, *needles).values())


def chat(s: str) -> list[dict[str, str]]:
    return [
        {"role": "user", "name": "Sam", "content": "We went hiking on Saturday."},
        {"role": "assistant", "content": "Nice, where did you go?"},
        {"role": "user", "name": "Sam", "content": f"The code to my locker is {s}."},
        {"role": "assistant", "content": "I will keep that in mind."},
        {"role": "user", "name": "Sam", "content": "Anyway, the trail was muddy."},
        {"role": "assistant", "content": "Muddy trails are the worst."},
    ]


@pytest.fixture
def db_path(db_factory: DbFactory) -> Path | str:
    """A database of each store (a SQLite file, a PostgreSQL URL)."""
    return db_factory("erase")


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "erase.db"


def test_delete_leaves_no_byte_of_content_metadata_speaker_or_windows(db_path: Path | str) -> None:
    in_content, in_meta, in_speaker, in_turn = (secret(t) for t in ("zc", "zm", "zs", "zt"))
    m = Memory(db_path, embedder="hash", background=False)
    m.add(FILLER, user_id="sam")
    note = m.add(f"my passport number is {in_content}", user_id="sam")[0]
    meta = m.add("a note with private metadata", user_id="sam", metadata={"pin": in_meta})[0]
    spoken = m.add("hello there", user_id="sam", speaker=in_speaker, kind="turn", session_id="s0")[0]
    turns = m.add(chat(in_turn), user_id="sam", session_id="s1")
    needles = (in_content, in_meta, in_speaker, in_turn)
    assert all(raw_hits(db_path, *needles).values())  # the probe sees them while they exist

    for rec in (note, meta, spoken, turns[2]):
        m.delete(rec.id, user_id="sam")
    # while the store is still open, right after the deletes returned
    assert raw_hits(db_path, *needles) == dict.fromkeys(raw_hits(db_path, *needles), 0)
    assert m.store.vectors_for_hashes([note.index_hash], m.embedder.model_id, m.embedder.dim) == {}
    assert m.search("locker code", user_id="sam", k=20).hits  # the neighbours are still found
    m.close()
    assert no_trace(db_path, *needles)


def test_delete_of_a_superseding_memory_erases_its_predecessors(db_path: Path | str) -> None:
    old_text, new_text = secret("zo"), secret("zn")
    m = Memory(db_path, embedder="hash", background=False)
    m.add(FILLER, user_id="sam")
    old = m.add(f"Sam works at {old_text}", user_id="sam", kind="fact")[0]
    t = m.get(old.id).created_at
    new = m.supersede(old.id, f"Sam works at {new_text} now", user_id="sam")
    m.delete(new.id, user_id="sam")
    with pytest.raises(NotFoundError):
        m.get(old.id)
    assert old.id not in {r.id for r in m.list(user_id="sam", include_superseded=True, limit=1000)}
    assert old.id not in {r.id for r in m.list(user_id="sam", as_of=t, limit=1000)}
    assert [e.action for e in m.history(old.id, user_id="sam")] == [Action.DELETE]
    assert no_trace(db_path, old_text, new_text)
    m.close()
    assert no_trace(db_path, old_text, new_text)


def test_delete_after_update_erases_every_version(db_path: Path | str) -> None:
    first, second = secret("zf"), secret("zv")
    m = Memory(db_path, embedder="hash", background=False)
    m.add(FILLER, user_id="sam")
    r = m.add(f"the first wording {first}", user_id="sam", session_id="s1", kind="turn")[0]
    m.update(r.id, content=f"the second wording {second}", user_id="sam")
    m.delete(r.id)
    m.close()
    assert no_trace(db_path, first, second)


def test_delete_removes_what_was_derived_from_it_within_its_user(db_path: Path | str) -> None:
    s = secret("zd")
    m = Memory(db_path, embedder="hash", background=False)
    turn = m.add(f"my new phone number is {s}", user_id="sam", session_id="s1", kind="turn")[0]
    fact = m.add(f"Sam's phone number: {s}", user_id="sam", kind="fact", provenance=[turn.id])[0]
    summary = m.add(f"summary: Sam shared {s}", user_id="sam", kind="summary", provenance=[fact.id])[0]
    other = m.add("mallory's note citing sam", user_id="mallory", provenance=[turn.id])[0]
    m.delete(turn.id, user_id="sam")
    for gone in (turn, fact, summary):
        with pytest.raises(NotFoundError):
            m.get(gone.id)
        assert [e.action for e in m.history(gone.id, user_id="sam")] == [Action.DELETE]
    assert m.get(other.id).content == "mallory's note citing sam"  # another user's memory is not reached
    m.close()
    assert no_trace(db_path, s)


@pytest.mark.parametrize("forget", ["forget_user", "delete_scope"])
def test_forget_user_leaves_no_byte_of_the_user(db_path: Path | str, forget: str) -> None:
    user, agent, session, text = secret("zu"), secret("za"), secret("zx"), secret("zk")
    m = Memory(db_path, embedder="hash", background=False)
    m.add(FILLER, user_id="bystander")
    recs = m.add(chat(text), user_id=user, agent_id=agent, session_id=session)
    fact = m.add(f"fact about {text}", user_id=user, kind="fact")[0]
    m.update(fact.id, content=f"updated fact about {text}")
    m.supersede(fact.id, f"newer fact about {text}")
    m.delete(recs[0].id)  # a tombstone of this user exists before the erasure
    ids = [r.id for r in recs] + [fact.id]
    erase = m.forget_user if forget == "forget_user" else lambda u: m.delete_scope(user_id=u)
    assert erase(user) == len(recs) - 1 + 2
    probe = Probe(db_path)
    marks = ",".join("?" * len(ids))
    assert probe.value(f"SELECT count(*) FROM history WHERE memory_id IN ({marks})", ids) == 0
    assert probe.value("SELECT count(*) FROM history WHERE action = 'delete'") == 0
    for memory_id in ids:
        with pytest.raises(NotFoundError):
            m.history(memory_id)
    assert no_trace(db_path, user, agent, session, text, *ids)
    assert m.count(user_id="bystander") == len(FILLER)
    m.close()
    assert no_trace(db_path, user, agent, session, text, *ids)


# ---- tombstones --------------------------------------------------------------


def test_a_tombstone_names_nobody_and_shows_only_to_its_owner(db_path: Path | str) -> None:
    user, session = secret("zw"), secret("zy")
    m = Memory(db_path, embedder="hash", background=False)
    m.add(FILLER, user_id="bystander")
    r = m.add("the only memory of this user", user_id=user, session_id=session)[0]
    m.delete(r.id)
    for scope in ({}, {"user_id": user}, {"user_id": user, "session_id": session}, {"session_id": session}):
        events = m.history(r.id, **scope)
        assert [(e.action, e.before, e.after) for e in events] == [(Action.DELETE, None, None)]
    for scope in ({"user_id": "bystander"}, {"user_id": user, "session_id": "other"}, {"agent_id": "a"}):
        with pytest.raises(NotFoundError):
            m.history(r.id, **scope)
    m.close()
    assert no_trace(db_path, user, session)  # only the id and the time are kept


def _export(m: Memory, **scope: str) -> list[str]:
    buf = io.StringIO()
    m.export_jsonl(buf, **scope)
    return buf.getvalue().splitlines()


def test_export_carries_tombstones_and_import_retags_them(db_factory: DbFactory) -> None:
    db1, db2 = (Memory(db_factory("a"), embedder="hash", background=False),
        Memory(db_factory("b"), embedder="hash", background=False))
    try:
        turns = db1.add(chat("nothing secret"), user_id="sam", session_id="s1")
        lone = db1.add("a note in a session that goes away", user_id="sam", session_id="s2")[0]
        db1.add("bob's note", user_id="bob")
        db1.delete(turns[1].id)
        db1.delete(lone.id)
        lines = _export(db1, user_id="sam")
        tombs = [json.loads(x) for x in lines if json.loads(x).get("action") == "delete"]
        # the file is the owner's: the scope is in clear, as far as the database can still name it
        assert {t["memory_id"]: t["scope"] for t in tombs} == {
            turns[1].id: {"user_id": "sam", "agent_id": None, "session_id": "s1"},
            lone.id: {"user_id": "sam", "agent_id": None},  # no memory holds session s2 any more
        }
        assert all(t["before"] is None and t["after"] is None for t in tombs)

        db2.import_jsonl(lines)
        for mid in (turns[1].id, lone.id):
            assert db2.history(mid, user_id="sam") == db1.history(mid, user_id="sam")
            assert db2.history(mid) == db1.history(mid)
            with pytest.raises(NotFoundError):
                db2.history(mid, user_id="bob")
        assert db2.history(turns[1].id, user_id="sam", session_id="s1") == db1.history(turns[1].id)
        with pytest.raises(NotFoundError):  # a field the file could not name matches no scope
            db2.history(lone.id, user_id="sam", session_id="s2")
        assert _export(db2, user_id="sam") == lines
        assert db2.import_jsonl(lines) == 0 and _export(db2, user_id="sam") == lines  # idempotent
        assert not [x for x in _export(db1, user_id="bob") if "delete" in x]
    finally:
        db1.close()
        db2.close()


def test_import_never_brings_back_a_deleted_memory(db_factory: DbFactory) -> None:
    db1, db2 = (Memory(db_factory("a"), embedder="hash", background=False),
        Memory(db_factory("b"), embedder="hash", background=False))
    try:
        r = db1.add("a memory that will be erased", user_id="sam")[0]
        backup = _export(db1)
        db1.delete(r.id)
        with pytest.raises(ConflictError):
            db1.import_jsonl(backup)
        with pytest.raises(NotFoundError):
            db1.get(r.id)
        db2.import_jsonl(backup)
        with pytest.raises(ConflictError):  # the file says deleted, this store holds it: nothing is written
            db2.import_jsonl(_export(db1))
        assert db2.get(r.id).content == "a memory that will be erased"
    finally:
        db1.close()
        db2.close()


def test_tombstones_from_before_tagging_lose_their_names_on_open(sqlite_path: Path) -> None:
    db_path = sqlite_path
    user = secret("zl")
    store = SQLiteStore(db_path)
    store.close()
    db = sqlite3.connect(db_path)
    db.executescript(UNDO_JOBS + """
        DROP TRIGGER memory_sources_ai; DROP TRIGGER memory_sources_ad;
        DROP TABLE erasure_key; DROP TABLE memory_sources; DROP INDEX memories_superseded_by;
        DROP INDEX history_tag_user; DROP INDEX history_tag_agent; DROP INDEX history_tag_session;
        ALTER TABLE history DROP COLUMN tag_user; ALTER TABLE history DROP COLUMN tag_agent;
        ALTER TABLE history DROP COLUMN tag_session; PRAGMA user_version = 2;
    """)
    before = json.dumps({"id": "01OLDTOMBSTONE", "user_id": user, "agent_id": None, "session_id": "s"})
    db.execute("INSERT INTO history (id, memory_id, action, at, before, after) VALUES "
               "('e1', '01OLDTOMBSTONE', 'delete', 0, ?, NULL)", (before,))
    db.commit()
    db.close()
    m = Memory(store=SQLiteStore(db_path), embedder="hash", background=False)
    assert [e.action for e in m.history("01OLDTOMBSTONE", user_id=user, session_id="s")] == [Action.DELETE]
    with pytest.raises(NotFoundError):
        m.history("01OLDTOMBSTONE", user_id="someone")
    m.close()
    assert no_trace(db_path, user)


def test_delete_leaves_no_window_of_an_older_neighbour_version_holding_the_turn(db_path: Path | str) -> None:
    """Updating a neighbour makes new versions whose windows list the turn; a delete of the turn
    must reach every window that lists it, not only those after its current version."""
    s = secret("zh")
    m = Memory(db_path, embedder="hash", background=False)
    turns = m.add(chat(s), user_id="sam", session_id="s1")
    for i in (1, 4, 3, 5, 4):
        m.update(turns[i].id, content=f"new wording number {i} of this turn", user_id="sam")
    m.delete(turns[2].id, user_id="sam")
    if isinstance(db_path, Path):
        db = sqlite3.connect(db_path)
        try:
            assert db.execute("SELECT count(*) FROM windows_fts WHERE windows_fts MATCH ?",
                              (f'"{s}"',)).fetchone() == (0,)
        finally:
            db.close()
    assert no_trace(db_path, s)
    m.close()
    assert no_trace(db_path, s)
