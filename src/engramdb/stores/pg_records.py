"""Row-level writes and reads of the PostgreSQL store, shared by its write paths (the record
methods, restore, and the pipeline's derived records): one record version, its vectors, a
history event, the counters the in-process caches follow."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb

from engramdb.core.errors import NotFoundError
from engramdb.core.ids import new_id
from engramdb.core.models import Action, HistoryEvent, MemoryRecord, Scope
from engramdb.core.ports import Keys
from engramdb.stores.pg_conn import Cursor
from engramdb.stores.pg_sql import COLUMNS
from engramdb.stores.sql_common import changeable, dt, record_from_row, ts, visible_to

_INSERT = (
    "INSERT INTO memories (id, version, user_id, agent_id, session_id, kind, role, speaker, content, "
    "metadata, event_time, created_at, sys_from, sys_to, superseded_at, superseded_by, provenance, "
    "content_hash, index_hash, embed_model, embed_version, embed_seq, valid_to, subject, attribute, "
    "expires_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
    "RETURNING ref"
)
_EVENT = "INSERT INTO history (id, memory_id, action, at, before, after) VALUES (%s,%s,%s,%s,%s,%s)"


def _opt_ts(value: Any) -> float | None:
    return None if value is None else ts(value)


def _row(rec: MemoryRecord, sys_to: float | None, has: bool, model_id: str | None, seq: int | None,
         embed_version: int | None) -> tuple[Any, ...]:
    s = rec.scope
    return (
        rec.id, rec.version, s.user_id, s.agent_id, s.session_id, rec.kind.value, rec.role, rec.speaker,
        rec.content, Jsonb(rec.metadata), ts(rec.event_time), ts(rec.created_at), ts(rec.updated_at), sys_to,
        _opt_ts(rec.superseded_at), rec.superseded_by, Jsonb(list(rec.provenance)), rec.content_hash,
        rec.index_hash, model_id if has else None, embed_version if has else None, seq if has else None,
        _opt_ts(rec.valid_to), rec.subject, rec.attribute, _opt_ts(rec.expires_at),
    )


def insert_records(cur: Cursor, records: Sequence[MemoryRecord], keys: Sequence[Keys | None] | None, *,
                   model_id: str | None = None, seq: int | None = None, embed_version: int | None = None,
                   sys_tos: Sequence[float | None] | None = None) -> list[int]:
    """Insert record versions and their vectors (``keys[i]`` for ``records[i]``, None: none yet;
    ``sys_tos[i]``: when a past version stopped being current, None: current) in two pipelined
    statements; returns their refs, in order."""
    if not records:
        return []
    found = list(keys) if keys is not None else [None] * len(records)
    ends = list(sys_tos) if sys_tos is not None else [None] * len(records)
    cur.executemany(_INSERT, [_row(rec, end, k is not None and model_id is not None, model_id, seq, embed_version)
                              for rec, k, end in zip(records, found, ends, strict=True)], returning=True)
    refs = []
    while True:
        row = cur.fetchone()
        assert row is not None
        refs.append(int(row[0]))
        if not cur.nextset():
            break
    if model_id is not None:
        write_many_vectors(cur, [(ref, k) for ref, k in zip(refs, found, strict=True) if k is not None], model_id)
    return refs


def insert_record(cur: Cursor, rec: MemoryRecord, *, sys_to: float | None = None, keys: Keys | None = None,
                  model_id: str | None = None, seq: int | None = None, embed_version: int | None = None) -> int:
    """Insert one record version (and its vectors, when given); returns its ref."""
    [ref] = insert_records(cur, [rec], [keys], model_id=model_id, seq=seq, embed_version=embed_version,
                           sys_tos=[sys_to])
    return ref


def write_many_vectors(cur: Cursor, items: Sequence[tuple[int, Keys]], model_id: str) -> None:
    """The vectors of many rows, (ref, keys) each, in one pipelined statement (a worker's batch:
    one executemany per row cost a round trip each, two thirds of completing a batch)."""
    params = []
    for ref, keys in items:
        matrix = np.asarray(keys, dtype=np.float32).reshape(-1, np.asarray(keys).shape[-1])
        params += [(ref, i, model_id, row) for i, row in enumerate(matrix)]
    cur.executemany("INSERT INTO vectors (ref, key_no, model, embedding) VALUES (%s, %s, %s, %s)", params)


def replace_vectors(cur: Cursor, refs: Sequence[int], keys: Keys, model_id: str, *,
                    seq: int, embed_version: int) -> None:
    """Swap the vectors of these rows (index data: no new version) and stamp their rows."""
    cur.execute("DELETE FROM vectors WHERE ref = ANY(%s)", (list(refs),))
    cur.execute("UPDATE memories SET embed_model = %s, embed_version = %s, embed_seq = %s WHERE ref = ANY(%s)",
                (model_id, embed_version, seq, list(refs)))
    write_many_vectors(cur, [(ref, keys) for ref in refs], model_id)


def next_seq(cur: Cursor) -> int:
    """The next embed sequence number (one per transaction that writes vectors)."""
    cur.execute("UPDATE meta SET value = value + 1 WHERE key = 'embed_seq' RETURNING value")
    row = cur.fetchone()
    assert row is not None
    return int(row[0])


def bump(cur: Cursor) -> None:
    """Visible rows changed (update, supersede, delete, vectors replaced): caches rebuild."""
    cur.execute("UPDATE meta SET value = value + 1 WHERE key = 'mutation_seq'")


def to_json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def event(cur: Cursor, memory_id: str, action: Action, at: Any, before: dict[str, Any] | None,
          after: dict[str, Any] | None) -> None:
    cur.execute(_EVENT, (new_id(), memory_id, action.value, ts(at), to_json(before), to_json(after)))


def add_events(cur: Cursor, records: Sequence[MemoryRecord]) -> None:
    """The 'add' event of each new record, in one pipelined statement."""
    cur.executemany(_EVENT, [(new_id(), rec.id, Action.ADD.value, ts(rec.created_at), None, to_json(rec.to_dict()))
                             for rec in records])


def write_events(cur: Cursor, events: Sequence[HistoryEvent]) -> None:
    cur.executemany(_EVENT, [(ev.id, ev.memory_id, ev.action.value, ts(ev.at), to_json(ev.before),
                              to_json(ev.after)) for ev in events])


def event_from_row(row: Sequence[Any]) -> HistoryEvent:
    eid, mid, action, at, before, after = row
    when = dt(at)
    assert when is not None
    return HistoryEvent(eid, mid, Action(action), when, json.loads(before) if before else None,
                        json.loads(after) if after else None)


def latest(cur: Cursor, memory_id: str, scope: Scope | None) -> MemoryRecord:
    """The latest version of a memory (superseded or not), if ``scope`` may see it."""
    cur.execute(f"SELECT {COLUMNS} FROM memories m WHERE m.id = %s ORDER BY m.version DESC LIMIT 1", (memory_id,))
    row = cur.fetchone()
    if row is None:
        raise NotFoundError(f"no memory with id {memory_id!r}")
    return visible_to(record_from_row(row), scope)


def current(cur: Cursor, memory_id: str, scope: Scope) -> MemoryRecord:
    """The current version of a memory that may still change (not superseded)."""
    return changeable(latest(cur, memory_id, scope))
