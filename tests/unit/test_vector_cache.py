"""The scope-matrix cache (stores/vector_index.py) keeps the most recently used scopes within a
byte budget, whatever their number."""

from __future__ import annotations

import numpy as np
import pytest

from engramdb.stores.vector_index import ENV_CACHE_MB, VectorCache, cache_bytes_from_env

DIM = 8


def filled(cache: VectorCache, key: str, rows: int, seq: int = 1) -> None:
    entry = cache.get((key,), seq, DIM)
    if not len(entry.rowids):
        blobs = [np.ones(DIM, np.float32).tobytes()] * rows
        entry.append(list(range(1, rows + 1)), blobs, DIM)


def test_many_small_scopes_stay_within_the_budget() -> None:
    cache = VectorCache(max_bytes=10_000_000)
    for user in range(300):  # 300 scopes of 100 rows (~17 kB each): all fit, where 64 did before
        filled(cache, f"u{user}", 100)
    for user in range(300):
        filled(cache, f"u{user}", 100)  # a second hand-out records each entry's grown size
    assert len(cache._entries) == 300 and cache._total <= 10_000_000


def test_least_recently_used_scopes_leave_first() -> None:
    cache = VectorCache(max_bytes=400_000)
    for user in range(20):
        filled(cache, f"u{user}", 500)  # ~100 kB each once sized
        filled(cache, f"u{user}", 500)
        filled(cache, "hot", 500)  # used between every other scope: never the oldest
        filled(cache, "hot", 500)
    assert ("hot",) in cache._entries
    assert ("u19",) in cache._entries and ("u0",) not in cache._entries
    assert cache._total <= 400_000


def test_a_new_mutation_sequence_starts_an_entry_afresh() -> None:
    cache = VectorCache(max_bytes=10_000_000)
    filled(cache, "u", 100, seq=1)
    assert len(cache.get(("u",), 1, DIM).rowids) == 100
    assert len(cache.get(("u",), 2, DIM).rowids) == 0


def test_budget_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CACHE_MB, "3")
    assert cache_bytes_from_env() == 3_000_000
    monkeypatch.setenv(ENV_CACHE_MB, "lots")
    assert cache_bytes_from_env() > 3_000_000
