"""Erasure in the PostgreSQL store: what a delete removes and its tombstones.

The rules are SQLite's (stores/sqlite_erasure.py): a delete removes every version of a memory
and of everything derived from it (:func:`closure`), with their history, vectors, index
entries (their rows cascade) and jobs, and leaves one tombstone per removed id: the id, the
time and an opaque HMAC tag per scope field under this database's erasure key.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from engramdb.core.errors import ConflictError
from engramdb.core.ids import new_id
from engramdb.core.models import HistoryEvent, Scope, utcnow
from engramdb.stores.pg_conn import Cursor
from engramdb.stores.sql_common import TAG_COLUMNS, scope_tag, tag_names, tombstone, ts

_TOMBSTONE = (
    "INSERT INTO history (id, memory_id, action, at, before, after, tag_user, tag_agent, tag_session) "
    "VALUES (%s, %s, 'delete', %s, NULL, NULL, %s, %s, %s)"
)
# a derived memory belongs to its source's tenant (user and agent): a delete never reaches
# into another user's memories, whatever their provenance says
_SAME_TENANT = "a.user_id IS NOT DISTINCT FROM b.user_id AND a.agent_id IS NOT DISTINCT FROM b.agent_id"
_LINKS = (
    # memories whose provenance names one of the ids (a superseding memory names its predecessor)
    "SELECT DISTINCT a.id FROM memory_sources s JOIN memories a ON a.ref = s.ref "
    "JOIN memories b ON b.id = s.source_id WHERE s.source_id = ANY(%s) AND " + _SAME_TENANT,
    # the predecessors the ids superseded: versions of the same fact
    "SELECT DISTINCT a.id FROM memories a JOIN memories b ON b.id = a.superseded_by "
    "WHERE a.superseded_by = ANY(%s) AND " + _SAME_TENANT,
    # the memories that superseded the ids (imports may carry the link without provenance)
    "SELECT DISTINCT b.id FROM memories a JOIN memories b ON b.id = a.superseded_by "
    "WHERE a.id = ANY(%s) AND " + _SAME_TENANT,
)


def key(cur: Cursor) -> bytes:
    cur.execute("SELECT key FROM erasure_key WHERE id = 1")
    row = cur.fetchone()
    assert row is not None
    return bytes(row[0])


def tag_clause(cur: Cursor, scope: Scope | None) -> tuple[str, list[Any]]:
    """WHERE fragment over history selecting the tombstones a scope owns (all for None)."""
    if scope is None:
        return "TRUE", []
    k = key(cur)
    parts = [(f"{TAG_COLUMNS[name]} = %s", scope_tag(k, name, value)) for name, value in scope.items()]
    return " AND ".join(p for p, _ in parts), [t for _, t in parts]


def closure(cur: Cursor, ids: Sequence[str]) -> list[str]:
    """The ids and everything derived from them, transitively, within each one's tenant."""
    seen = dict.fromkeys(ids)
    frontier = list(seen)
    while frontier:
        found: list[str] = []
        for sql in _LINKS:
            cur.execute(sql, (frontier,))
            found += [r[0] for r in cur.fetchall()]
        frontier = [i for i in dict.fromkeys(found) if i not in seen]
        seen.update(dict.fromkeys(frontier))
    return list(seen)


def erase(cur: Cursor, ids: Sequence[str], *, untombed: Scope | None = None) -> None:
    """Remove every version, vector and history row of ``ids``; a tombstone for each, except for
    those inside ``untombed`` (a scope being forgotten keeps no tombstones)."""
    if not ids:
        return
    ids = list(ids)
    cur.execute("SELECT DISTINCT id, user_id, agent_id, session_id FROM memories WHERE id = ANY(%s)", (ids,))
    owners = cur.fetchall()
    cur.execute("DELETE FROM memories WHERE id = ANY(%s)", (ids,))  # vectors, sources, index rows cascade
    cur.execute("DELETE FROM history WHERE memory_id = ANY(%s)", (ids,))
    at, k = ts(utcnow()), key(cur)
    tombstones = [(new_id(), mid, at, *_tags(k, {"user_id": user, "agent_id": agent, "session_id": session}))
                  for mid, user, agent, session in owners
                  if untombed is None or not untombed.contains(Scope(user, agent, session))]
    if tombstones:
        cur.executemany(_TOMBSTONE, tombstones)


def forget_tombstones(cur: Cursor, scope: Scope) -> int:
    """Remove the tombstones a scope owns (after ``delete_scope``: nothing about it is kept)."""
    where, params = tag_clause(cur, scope)
    cur.execute(f"DELETE FROM history WHERE action = 'delete' AND {where}", params)
    return cur.rowcount


def tombstones(cur: Cursor, memory_id: str, scope: Scope | None) -> list[HistoryEvent]:
    """The tombstones of a deleted id that ``scope`` owns (every one for None)."""
    where, params = tag_clause(cur, scope)
    cur.execute(f"SELECT id, memory_id, at FROM history WHERE memory_id = %s AND action = 'delete' AND {where} "
                "ORDER BY seq", [memory_id, *params])
    return [tombstone(eid, mid, at) for eid, mid, at in cur.fetchall()]


def export_tombstones(cur: Cursor, scope: Scope | None) -> list[HistoryEvent]:
    """The tombstones ``scope`` owns, each naming its owner where a value still held names it."""
    where, params = tag_clause(cur, scope)
    cur.execute(f"SELECT id, memory_id, at, tag_user, tag_agent, tag_session FROM history "
                f"WHERE action = 'delete' AND {where} ORDER BY seq", params)
    rows = cur.fetchall()
    if not rows:
        return []
    names = _names(cur, scope)
    return [tombstone(eid, mid, at, tags, names) for eid, mid, at, *tags in rows]


def refuse_erased(cur: Cursor, memory_ids: Sequence[str]) -> None:
    """An import never brings back a memory that was deleted here."""
    cur.execute("SELECT memory_id FROM history WHERE action = 'delete' AND memory_id = ANY(%s) LIMIT 1",
                (list(dict.fromkeys(memory_ids)),))
    row = cur.fetchone()
    if row is not None:
        raise ConflictError(f"memory {row[0]} was deleted in this store; an import does not bring it back")


def restore_tombstone(cur: Cursor, event: HistoryEvent) -> None:
    """Write an exported tombstone, tagged under this database's key. A field its file could
    not name gets a tag that matches no scope."""
    cur.execute("SELECT 1 FROM history WHERE id = %s", (event.id,))
    if cur.fetchone():
        return  # already imported
    cur.execute("SELECT 1 FROM memories WHERE id = %s LIMIT 1", (event.memory_id,))
    if cur.fetchone():
        raise ConflictError(f"memory {event.memory_id} is deleted in the file but present here")
    owner = event.scope or {}
    k = key(cur)
    tags = [scope_tag(k, name, owner[name]) if name in owner else secrets.token_hex(16) for name in TAG_COLUMNS]
    cur.execute(_TOMBSTONE, (event.id, event.memory_id, ts(event.at), *tags))


def _tags(k: bytes, owner: Mapping[str, str | None]) -> list[str | None]:
    return [scope_tag(k, name, owner.get(name)) for name in TAG_COLUMNS]


def _names(cur: Cursor, scope: Scope | None) -> dict[str, str]:
    """tag -> value for every scope value the export scope or the memories hold."""
    held = {}
    for name in TAG_COLUMNS:
        cur.execute(f"SELECT DISTINCT {name} FROM memories WHERE {name} IS NOT NULL")
        held[name] = {r[0] for r in cur.fetchall()}
    return tag_names(key(cur), held, scope)
