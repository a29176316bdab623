"""Erasure in the SQLite store: what a delete removes, its tombstone, and scrubbing the file.

A delete removes a memory, every version of it and everything derived from it (see
:func:`closure`), with their history, and leaves one tombstone per removed id: the id,
the time and an opaque tag per scope field (a keyed hash, see ``scope_tag``). Then the
words leave the file: rows are overwritten by ``PRAGMA secure_delete``, the full-text
indexes are rewritten without them (:func:`scrub`), and the store truncates the WAL
after the transaction (``Connection.checkpoint``). README "Erasure" states the policy.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from engramdb.core.errors import ConflictError
from engramdb.core.ids import new_id
from engramdb.core.models import HistoryEvent, Scope, utcnow
from engramdb.stores.sql_common import TAG_COLUMNS, scope_tag, tag_names, tombstone
from engramdb.stores.sqlite_sql import ts

CHUNK = 500  # stays under SQLite's bound-parameter limit
_TOMBSTONE = (
    "INSERT INTO history (id, memory_id, action, at, before, after, tag_user, tag_agent, tag_session) "
    "VALUES (?, ?, 'delete', ?, NULL, NULL, ?, ?, ?)"
)
# A derived memory belongs to the same tenant (user and agent) as its source: a delete
# never reaches into another user's memories, whatever their provenance says.
_SAME_TENANT = "+a.user_id IS +b.user_id AND +a.agent_id IS +b.agent_id"  # unary +: no index on these
_LINKS = (
    # memories whose provenance names one of the ids (a superseding memory names its predecessor)
    "SELECT DISTINCT a.id FROM memory_sources s JOIN memories a ON a.rowid = s.ref "
    "JOIN memories b ON b.id = s.source_id WHERE s.source_id IN ({marks}) AND " + _SAME_TENANT,
    # the predecessors the ids superseded: versions of the same fact
    "SELECT DISTINCT a.id FROM memories a JOIN memories b ON b.id = a.superseded_by "
    "WHERE a.superseded_by IN ({marks}) AND " + _SAME_TENANT,
    # the memories that superseded the ids (imports may carry the link without provenance)
    "SELECT DISTINCT b.id FROM memories a JOIN memories b ON b.id = a.superseded_by "
    "WHERE a.id IN ({marks}) AND " + _SAME_TENANT,
)


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield list(items[start:start + CHUNK])


def _marks(n: int) -> str:
    return ",".join("?" * n)


def key(db: sqlite3.Connection) -> bytes:
    return bytes(db.execute("SELECT key FROM erasure_key WHERE id = 1").fetchone()[0])


def tag_clause(db: sqlite3.Connection, scope: Scope | None) -> tuple[str, list[Any]]:
    """WHERE fragment over history selecting the tombstones a scope owns (all for None)."""
    if scope is None:
        return "1", []
    k = key(db)
    parts = [(f"{TAG_COLUMNS[name]} = ?", scope_tag(k, name, value)) for name, value in scope.items()]
    return " AND ".join(p for p, _ in parts), [t for _, t in parts]


def closure(db: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
    """The ids and everything derived from them, transitively, within each one's tenant:
    memories whose provenance names them, the predecessors they superseded and the
    memories that superseded them."""
    seen = dict.fromkeys(ids)
    frontier = list(seen)
    while frontier:
        found: list[str] = []
        for chunk in _chunks(frontier):
            for sql in _LINKS:
                found += [r[0] for r in db.execute(sql.format(marks=_marks(len(chunk))), chunk)]
        frontier = [i for i in dict.fromkeys(found) if i not in seen]
        seen.update(dict.fromkeys(frontier))
    return list(seen)


def erase(db: sqlite3.Connection, ids: Sequence[str], *, untombed: Scope | None = None) -> list[int]:
    """Remove every version and history row of ``ids``; a tombstone for each, except for those
    inside ``untombed`` (a scope being forgotten keeps no tombstones); then :func:`scrub`.
    Returns the rowids of the removed rows that had vectors (the ANN tier drops them too)."""
    if not ids:
        return []
    vectors: list[int] = []
    at = ts(utcnow())
    k = key(db)
    turns: set[int] = set()
    sessions: set[tuple[str | None, str | None, str]] = set()
    tombstones = []
    for chunk in _chunks(ids):
        marks = _marks(len(chunk))
        owners = db.execute(
            f"SELECT DISTINCT id, user_id, agent_id, session_id FROM memories WHERE id IN ({marks})", chunk).fetchall()
        for rowid, user, agent, session in db.execute(
                f"SELECT rowid, user_id, agent_id, session_id FROM memories WHERE id IN ({marks}) "
                "AND kind = 'turn' AND session_id IS NOT NULL", chunk):
            turns.add(int(rowid))
            sessions.add((user, agent, session))
        vectors += [int(r[0]) for r in db.execute(
            f"SELECT rowid FROM memories WHERE id IN ({marks}) AND embedding IS NOT NULL", chunk)]
        # the rows go at once (their windows with them, by trigger); the windows of the turns that
        # survive them are rebuilt once, after every row is gone (_sweep_windows)
        db.execute(f"DELETE FROM memories WHERE id IN ({marks})", chunk)
        db.execute(f"DELETE FROM history WHERE memory_id IN ({marks})", chunk)
        tombstones += [(new_id(), mid, at, *_tags(k, {"user_id": user, "agent_id": agent, "session_id": session}))
                       for mid, user, agent, session in owners
                       if untombed is None or not untombed.contains(Scope(user, agent, session))]
    db.executemany(_TOMBSTONE, tombstones)
    _sweep_windows(db, turns, sessions)
    scrub(db, windows=bool(turns))
    return vectors


def _sweep_windows(db: sqlite3.Connection, turns: set[int],
                   sessions: set[tuple[str | None, str | None, str]]) -> None:
    """No window may keep an erased turn: every window of the sessions that lists one of
    ``turns`` (the erased rows, every version) is dropped, and rebuilt if its turn is current.
    (The update trigger rebuilds only the windows after a current version, so a window of an
    older version of a neighbour may still list the turn; and rebuilding once here, rather than
    per closed row, writes each window once.)"""
    for user, agent, session in sessions:
        stale = [int(rowid) for rowid, members in db.execute(
            "SELECT rowid, members FROM windows_fts WHERE rowid IN (SELECT rowid FROM memories "
            "WHERE session_id = ? AND user_id IS ? AND agent_id IS ?)", (session, user, agent))
            if turns.intersection(int(m) for m in str(members).split())]
        for start in range(0, len(stale), CHUNK):
            part = stale[start:start + CHUNK]
            marks = _marks(len(part))
            db.execute(f"DELETE FROM windows_fts WHERE rowid IN ({marks})", part)
            db.execute(f"INSERT INTO windows_fts (rowid, body, members) SELECT rowid, body, members "
                       f"FROM turn_windows WHERE rowid IN ({marks})", part)


def forget_tombstones(db: sqlite3.Connection, scope: Scope) -> int:
    """Remove the tombstones a scope owns (after ``delete_scope``: nothing about it is kept)."""
    where, params = tag_clause(db, scope)
    return db.execute(f"DELETE FROM history WHERE action = 'delete' AND {where}", params).rowcount


def scrub(db: sqlite3.Connection, *, windows: bool) -> None:
    """Rewrite the full-text indexes without the deleted rows' words.

    An FTS5 'delete' only adds a delete marker: the term stays in the older segments, and a
    merge drops it only when it reaches the oldest segment. 'optimize' merges every segment
    into one, so no segment keeps a deleted term; the replaced pages are zeroed by
    ``secure_delete``. It costs a rewrite of the index (measured: ``engram bench erasure``).
    The windows index is rewritten only when a turn of a session went (windows hold turns)."""
    db.execute("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')")
    if windows:
        db.execute("INSERT INTO windows_fts (windows_fts) VALUES ('optimize')")


def tombstones(db: sqlite3.Connection, memory_id: str, scope: Scope | None) -> list[HistoryEvent]:
    """The tombstones of a deleted id that ``scope`` owns (every one for None)."""
    where, params = tag_clause(db, scope)
    rows = db.execute(
        f"SELECT id, memory_id, at FROM history WHERE memory_id = ? AND action = 'delete' AND {where} ORDER BY seq",
        [memory_id, *params]).fetchall()
    return [tombstone(eid, mid, at) for eid, mid, at in rows]


def export_tombstones(db: sqlite3.Connection, scope: Scope | None) -> list[HistoryEvent]:
    """The tombstones ``scope`` owns, each naming its owner in clear: every field whose value
    the export scope or a memory of the database still holds. A field nothing holds any
    more (an erased user's) cannot be named and is left out."""
    where, params = tag_clause(db, scope)
    rows = db.execute(
        f"SELECT id, memory_id, at, tag_user, tag_agent, tag_session FROM history "
        f"WHERE action = 'delete' AND {where} ORDER BY seq", params).fetchall()
    if not rows:
        return []
    names = _names(db, scope)
    return [tombstone(eid, mid, at, tags, names) for eid, mid, at, *tags in rows]


def refuse_erased(db: sqlite3.Connection, memory_ids: Sequence[str]) -> None:
    """An import never brings back a memory that was deleted here."""
    ids = list(dict.fromkeys(memory_ids))
    for chunk in _chunks(ids):
        row = db.execute(f"SELECT memory_id FROM history WHERE action = 'delete' AND memory_id IN "
                         f"({_marks(len(chunk))}) LIMIT 1", chunk).fetchone()
        if row is not None:
            raise ConflictError(f"memory {row[0]} was deleted in this store; an import does not bring it back")


def restore_tombstone(db: sqlite3.Connection, event: HistoryEvent) -> None:
    """Write an exported tombstone, tagged under this database's key. A field its file could
    not name gets a tag that matches no scope."""
    if db.execute("SELECT 1 FROM history WHERE id = ?", (event.id,)).fetchone():
        return  # already imported
    if db.execute("SELECT 1 FROM memories WHERE id = ? LIMIT 1", (event.memory_id,)).fetchone():
        raise ConflictError(f"memory {event.memory_id} is deleted in the file but present here")
    owner = event.scope or {}
    tags = [_tag(key(db), name, owner[name]) if name in owner else secrets.token_hex(16) for name in TAG_COLUMNS]
    db.execute(_TOMBSTONE, (event.id, event.memory_id, ts(event.at), *tags))


def _tag(k: bytes, name: str, value: str | None) -> str | None:
    return scope_tag(k, name, value)


def _tags(k: bytes, owner: Mapping[str, str | None]) -> list[str | None]:
    return [scope_tag(k, name, owner.get(name)) for name in TAG_COLUMNS]


def _names(db: sqlite3.Connection, scope: Scope | None) -> dict[str, str]:
    """tag -> value for every scope value the export scope or the memories hold."""
    held = {name: {r[0] for r in db.execute(f"SELECT DISTINCT {name} FROM memories WHERE {name} IS NOT NULL")}
            for name in TAG_COLUMNS}
    return tag_names(key(db), held, scope)
