"""Read a store's keyword episode windows (as member ids), whichever backend holds them."""

from __future__ import annotations

import sqlite3

from engramdb.core.ports import Store
from engramdb.stores.sqlite import SQLiteStore


def keyword_windows(store: Store) -> dict[str, tuple[str, ...]]:
    """Each current turn's keyword window: its id -> the member ids, the turn first."""
    if isinstance(store, SQLiteStore):
        db = sqlite3.connect(store.conn.path)
        try:
            ids = dict(db.execute("SELECT rowid, id FROM memories"))
            rows = [(r, [int(x) for x in str(members).split()]) for r, members in db.execute(
                "SELECT w.rowid, w.members FROM windows_fts w JOIN memories m ON m.rowid = w.rowid "
                "WHERE m.sys_to IS NULL")]
        finally:
            db.close()
    else:
        with store.conn.read() as cur:  # type: ignore[attr-defined]
            cur.execute("SELECT ref, id FROM memories")
            ids = dict(cur.fetchall())
            cur.execute("SELECT w.ref, w.members FROM memory_windows w JOIN memories m ON m.ref = w.ref "
                        "WHERE m.sys_to IS NULL")
            rows = cur.fetchall()
    return {ids[r]: tuple(ids[int(x)] for x in members) for r, members in rows}
