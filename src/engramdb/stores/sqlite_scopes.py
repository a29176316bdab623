"""Catalogue reads of the SQLite store: which scopes hold memories, which models embedded them."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from engramdb.core.models import Scope, ScopeSummary
from engramdb.core.ports import ReadSpec
from engramdb.stores.sqlite_sql import scope_clause, visibility_clause


def scopes(db: sqlite3.Connection, scope: Scope | None, by_session: bool) -> list[ScopeSummary]:
    """Current memories grouped by (user, agent[, session]), with counts and event-time spans."""
    where, params = scope_clause(scope) if scope is not None else ("1", [])
    keys = "m.user_id, m.agent_id" + (", m.session_id" if by_session else "")
    # sessions in conversation order (session_2 before session_10)
    order = "m.user_id, m.agent_id, MIN(m.event_time), m.session_id" if by_session else keys
    rows = db.execute(
        f"SELECT {keys}, COUNT(*), COUNT(DISTINCT m.session_id), MIN(m.event_time), MAX(m.event_time) "
        f"FROM memories m WHERE m.sys_to IS NULL AND ({where}) GROUP BY {keys} ORDER BY {order}",
        params,
    ).fetchall()
    out = []
    for row in rows:
        session = row[2] if by_session else None
        count, sessions, first, last = row[-4:]
        out.append(ScopeSummary(row[0], row[1], session, int(count), int(sessions),
                                datetime.fromtimestamp(first, tz=UTC), datetime.fromtimestamp(last, tz=UTC)))
    return out


def embed_models(db: sqlite3.Connection, spec: ReadSpec) -> dict[str | None, int]:
    where, params = visibility_clause(spec)
    rows = db.execute(
        f"SELECT m.embed_model, COUNT(*) FROM memories m WHERE {where} GROUP BY m.embed_model", params
    ).fetchall()
    return {row[0]: int(row[1]) for row in rows}
