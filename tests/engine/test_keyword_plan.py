"""The scope-first keyword plan (stores/sqlite_keyword.py) answers exactly as the global plan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engramdb.core.models import Kind, Scope
from engramdb.core.ports import ReadSpec
from engramdb.engine.ingest import Draft, build_records
from engramdb.stores import sqlite_keyword
from engramdb.stores.sqlite import SQLiteStore

WORDS = ["garden", "tomato", "hiking", "guitar", "paris", "coffee", "novel", "dog", "marathon", "piano", "museum",
         "river", "pasta", "chess", "camera", "violin", "sunset", "bicycle", "library", "ocean"]


def turns(user: str, session: str, n: int, rng: np.random.Generator):
    drafts = [Draft(" ".join(rng.choice(WORDS, size=6)), "user", "ann", None, {}) for _ in range(n)]
    return build_records(drafts, scope=Scope(user_id=user, session_id=session), kind=Kind.TURN, timestamp=None,
                         metadata={})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    rng = np.random.default_rng(5)
    s = SQLiteStore(tmp_path / "m.db")
    for u in range(12):  # users written one after another (an import per user) ...
        for part in range(8):
            s.add(turns(f"block{u}", f"s{part // 4}", 10, rng), None, None)
            s.add(turns("spread", f"s{u}", 1, rng), None, None)  # ... and one user writing all along
    for i in range(60):  # two users whose writes interleave with each other all along
        s.add(turns(f"mixed{i % 2}", f"s{i // 10}", 5, rng), None, None)
    yield s
    s.close()


def both(store: SQLiteStore, spec: ReadSpec, terms: list[str]) -> tuple[list[object], list[object]]:
    out = []
    for plan in (True, False):
        sqlite_keyword.SCOPE_FIRST = plan
        try:
            out.append([(s.ref, round(s.score, 9)) for s in store.text_search(spec, terms, 30)]
                       + [(s.ref, round(s.score, 9)) for s in store.window_search(spec, terms, 30)])
        finally:
            sqlite_keyword.SCOPE_FIRST = True
    return out[0], out[1]


def test_scope_first_plan_is_the_global_plan(store: SQLiteStore) -> None:
    for user in ("block0", "block7", "block11", "mixed0", "mixed1", "spread"):
        for terms in (["garden", "piano"], ["ocean"], ["chess", "violin", "sunset", "dog"]):
            scoped, global_ = both(store, ReadSpec(Scope(user_id=user)), terms)
            assert scoped == global_ and scoped
        session = ReadSpec(Scope(user_id=user, session_id="s1"))
        assert both(store, session, ["tomato", "river"])[0] == both(store, session, ["tomato", "river"])[1]


def test_ranges_for_blocks_global_plan_for_spread_scopes(store: SQLiteStore) -> None:
    with store.conn.read() as db:
        ranges = store._ranges.ranges(db, Scope(user_id="block3"))
        assert ranges is not None and len(ranges) == 1
        assert store._ranges.ranges(db, Scope(user_id="mixed0")) is not None  # 8 ranges over a quarter
        assert store._ranges.ranges(db, Scope(user_id="spread")) is None  # spans the file: the global plan
    # a delete and new rows are seen (the cache follows mutation_seq and the highest rowid)
    store.add(turns("block3", "s3", 5, np.random.default_rng(9)), None, None)
    with store.conn.read() as db:
        ranges = store._ranges.ranges(db, Scope(user_id="block3"))
        assert ranges is not None and len(ranges) == 2
    spec = ReadSpec(Scope(user_id="block3"))
    first = store.text_search(spec, ["garden"], 5)[0].ref
    store.delete(store.fetch([first])[first].id)
    assert first not in [s.ref for s in store.text_search(spec, ["garden"], 50)]
    scoped, global_ = both(store, spec, ["garden", "coffee"])
    assert scoped == global_
