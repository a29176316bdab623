"""Episode windows (Store.window_search): a turn is scored by the best window it is in.

A window is a turn and the four current turns before it in its session. The
suite checks that windows follow every write path: adds, updates, supersede,
delete (no window keeps a removed turn's words), scopes, and old databases.
"""

from __future__ import annotations

import sqlite3

import pytest
from tests.support.schema import UNDO_JOBS

from engramdb import Memory
from engramdb.core.filters import parse_filters
from engramdb.core.models import Scope
from engramdb.core.ports import ReadSpec
from engramdb.stores.sqlite import SQLiteStore

CHAT = [
    {"role": "user", "speaker": "Nate", "content": "I won the regional tournament yesterday!"},
    {"role": "assistant", "speaker": "Joanna", "content": "Congrats! How will you mark the occasion?"},
    {"role": "user", "speaker": "Nate", "content": "Taking a quiet weekend to chill with my turtles."},
    {"role": "assistant", "speaker": "Joanna", "content": "Sounds lovely."},
    {"role": "user", "speaker": "Nate", "content": "Then back to practice on Monday."},
    {"role": "assistant", "speaker": "Joanna", "content": "Good luck with it."},
    {"role": "user", "speaker": "Nate", "content": "Thanks, talk soon."},
]


def window_contents(m: Memory, spec: ReadSpec, terms: list[str]) -> list[str]:
    scored = m.store.window_search(spec, terms, 20)
    records = m.store.fetch([s.ref for s in scored], spec)
    return [records[s.ref].content for s in scored if s.ref in records]


def test_words_spread_over_adjacent_turns_find_the_later_turn(memory_factory):
    m = memory_factory()
    m.add(CHAT, user_id="u", session_id="s1")
    spec = ReadSpec(Scope(user_id="u"))
    found = window_contents(m, spec, ["tournament", "turtles"])
    # the windows holding both words rank first; the turtle turn is in them, the tournament
    # turn too, and the last turn (five turns after the tournament) is in no window with it
    assert "Taking a quiet weekend to chill with my turtles." in found[:3]
    assert "I won the regional tournament yesterday!" in found
    assert "Thanks, talk soon." not in found[:3]
    scores = [s.score for s in m.store.window_search(spec, ["tournament", "turtles"], 20)]
    assert scores == sorted(scores, reverse=True)


def test_windows_stay_inside_a_session_and_a_scope(memory_factory):
    m = memory_factory()
    m.add(CHAT[:1], user_id="u", session_id="s1")
    m.add([{"role": "user", "content": "turtles are my favourite animals"}], user_id="u", session_id="s2")
    m.add(CHAT, user_id="other", session_id="s1")
    spec = ReadSpec(Scope(user_id="u"))
    scored = m.store.window_search(spec, ["tournament", "turtles"], 20)
    records = m.store.fetch([s.ref for s in scored])
    assert {r.scope.user_id for r in records.values()} == {"u"}
    # each session's turn is found on its own word only: no window spans the two sessions
    best = {records[s.ref].content: s.score for s in scored}
    assert len(best) == 2
    single = m.store.window_search(spec, ["turtles"], 20)
    assert max(s.score for s in single) > 0


def test_deleted_turn_leaves_no_words_in_any_window(memory_factory):
    m = memory_factory()
    recs = m.add(CHAT, user_id="u", session_id="s1")
    spec = ReadSpec(Scope(user_id="u"))
    assert window_contents(m, spec, ["tournament"])
    m.delete(recs[0].id, user_id="u")
    assert window_contents(m, spec, ["tournament"]) == []
    # the other turns keep their windows
    assert "Sounds lovely." in window_contents(m, spec, ["turtles"])


def test_updated_and_superseded_turns_leave_the_windows(memory_factory):
    m = memory_factory()
    recs = m.add(CHAT, user_id="u", session_id="s1")
    spec = ReadSpec(Scope(user_id="u"))
    m.update(recs[2].id, content="Taking a quiet weekend to chill with my tortoises.", user_id="u")
    assert window_contents(m, spec, ["turtles"]) == []
    assert window_contents(m, spec, ["tortoises"])
    m.supersede(recs[0].id, "I lost the regional final yesterday.", user_id="u")
    assert window_contents(m, spec, ["tournament"]) == []


def test_notes_and_facts_get_no_windows(memory_factory):
    m = memory_factory()
    m.add("Nate keeps turtles", user_id="u", session_id="s1", kind="fact")
    m.add("a note about turtles", user_id="u", kind="note")
    assert m.store.window_search(ReadSpec(Scope(user_id="u")), ["turtles"], 20) == []
    assert m.store.text_search(ReadSpec(Scope(user_id="u")), ["turtles"], 20)


def test_delete_scope_removes_its_windows(memory_factory):
    m = memory_factory()
    m.add(CHAT, user_id="u", session_id="s1")
    m.add(CHAT, user_id="v", session_id="s1")
    m.delete_scope(user_id="u")
    assert m.store.window_search(ReadSpec(Scope(user_id="u")), ["turtles"], 20) == []
    assert m.store.window_search(ReadSpec(Scope(user_id="v")), ["turtles"], 20)


def test_a_database_from_before_windows_gets_them_on_open(tmp_path):
    path = tmp_path / "old.db"
    m = Memory(path, embedder="hash", background=False)
    m.add(CHAT, user_id="u", session_id="s1")
    m.close()
    # turn the file back into a version-1 database: no windows, no triggers
    db = sqlite3.connect(path)
    db.executescript(UNDO_JOBS + """
        DROP TRIGGER windows_ai; DROP TRIGGER windows_ai_before; DROP TRIGGER windows_au; DROP TRIGGER windows_ad;
        DROP VIEW turn_windows; DROP TABLE windows_fts; DROP INDEX memories_turn_order;
        DROP TRIGGER memory_sources_ai; DROP TRIGGER memory_sources_ad;
        DROP TABLE erasure_key; DROP TABLE memory_sources; DROP INDEX memories_superseded_by;
        DROP INDEX history_tag_user; DROP INDEX history_tag_agent; DROP INDEX history_tag_session;
        ALTER TABLE history DROP COLUMN tag_user; ALTER TABLE history DROP COLUMN tag_agent;
        ALTER TABLE history DROP COLUMN tag_session; PRAGMA user_version = 1;
    """)
    db.close()
    store = SQLiteStore(path)
    try:
        scored = store.window_search(ReadSpec(Scope(user_id="u")), ["tournament", "turtles"], 20)
        # every turn shares a window with the tournament turn (1) or the turtle turn (3)
        assert len(scored) == len(CHAT)
    finally:
        store.close()


# ---- dense windows (Store.window_vector_search) ------------------------------


def test_dense_window_scores_are_member_centroids(memory_factory):
    import numpy as np

    m = memory_factory()
    recs = m.add(CHAT, user_id="u", session_id="s1")
    spec = ReadSpec(Scope(user_id="u"))
    q = m.embedder.embed_query("a quiet weekend with turtles after a tournament")
    got = {s.ref: s.score for s in m.store.window_vector_search(spec, q, m.embedder.model_id, 50)}
    refs = {r.content: ref for ref, r in m.store.fetch(list(got)).items()}
    ordered = [refs[r.content] for r in recs]
    vecs = m.embedder.embed_documents([r.index_text for r in recs])
    # expected: each turn's best window among those ending at it and at the two turns after it
    window = []
    for end in range(len(recs)):
        c = vecs[max(0, end - 2):end + 1].sum(axis=0)
        window.append(float(c @ q / np.linalg.norm(c)))
    for i, ref in enumerate(ordered):
        assert got[ref] == pytest.approx(max(window[i:i + 3]), abs=1e-5)


def test_dense_windows_respect_scope_session_and_filters(memory_factory):
    m = memory_factory()
    m.add(CHAT[:2], user_id="u", session_id="s1", metadata={"topic": "games"})
    m.add(CHAT[2:4], user_id="u", session_id="s2", metadata={"topic": "pets"})
    m.add(CHAT, user_id="other", session_id="s1")
    q = m.embedder.embed_query("turtles tournament")
    spec = ReadSpec(Scope(user_id="u"))
    scored = m.store.window_vector_search(spec, q, m.embedder.model_id, 50)
    records = m.store.fetch([s.ref for s in scored])
    assert {r.scope.user_id for r in records.values()} == {"u"} and len(records) == 4
    filtered = ReadSpec(Scope(user_id="u"), filters=parse_filters({"topic": "pets"}))
    only = m.store.fetch([s.ref for s in m.store.window_vector_search(filtered, q, m.embedder.model_id, 50)])
    assert {r.metadata["topic"] for r in only.values()} == {"pets"}
    plain = m.store.fetch([s.ref for s in m.store.vector_search(filtered, q, m.embedder.model_id, 50)])
    assert {r.metadata["topic"] for r in plain.values()} == {"pets"} and len(plain) == 2


def test_dense_windows_follow_adds_and_deletes(memory_factory):
    m = memory_factory()
    spec = ReadSpec(Scope(user_id="u"))
    q = m.embedder.embed_query("turtles")
    first = m.add(CHAT[:3], user_id="u", session_id="s1")
    assert len(m.store.window_vector_search(spec, q, m.embedder.model_id, 50)) == 3
    m.add(CHAT[3:], user_id="u", session_id="s1")  # appended to the cached scope, not rebuilt
    assert len(m.store.window_vector_search(spec, q, m.embedder.model_id, 50)) == len(CHAT)
    m.delete(first[0].id, user_id="u")
    left = m.store.fetch([s.ref for s in m.store.window_vector_search(spec, q, m.embedder.model_id, 50)])
    assert first[0].id not in {r.id for r in left.values()} and len(left) == len(CHAT) - 1


def test_notes_get_no_dense_window(memory_factory):
    m = memory_factory()
    m.add("a note about turtles", user_id="u", kind="note")
    q = m.embedder.embed_query("turtles")
    spec = ReadSpec(Scope(user_id="u"))
    assert m.store.window_vector_search(spec, q, m.embedder.model_id, 50) == []
    assert m.store.vector_search(spec, q, m.embedder.model_id, 50)
