"""Shared fixtures: real SQLite files in tmp_path and the shipped deterministic hash embedder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from engramdb import Memory
from engramdb.core.ports import Store
from engramdb.stores.sqlite import SQLiteStore

# the PostgreSQL fixtures: pg_server, pg_url, db_factory (tests/support/pg_fixtures.py); db_target,
# a database of each store with a probe on it (tests/support/probe.py)
pytest_plugins = ["tests.support.pg_fixtures", "tests.support.probe"]

# Property tests (tests/engine/test_fuzz_inputs.py): "ci" is reproducible (derandomized, no example
# database) and small; ENGRAM_HYPOTHESIS_PROFILE=deep runs thousands of random examples.
_LENIENT = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture, HealthCheck.large_base_example]
settings.register_profile("ci", max_examples=60, derandomize=True, database=None, deadline=None,
                          suppress_health_check=_LENIENT, print_blob=True)
settings.register_profile("deep", max_examples=2000, deadline=None, suppress_health_check=_LENIENT,
                          print_blob=True)
settings.load_profile(os.environ.get("ENGRAM_HYPOTHESIS_PROFILE", "ci"))

# Fact extraction (issue 12) is on by default; the suites written before it count memories and
# jobs of the embedding pipeline, so they run without it (subprocesses inherit this). The facts'
# own tests turn it on with Memory(facts=True).
os.environ.setdefault("ENGRAM_FACTS", "0")

# name -> factory(request, db_name) returning a fresh, empty store.
# Adding a backend to the contract suite is one line here.
StoreFactory = Callable[[pytest.FixtureRequest, str], Store]
STORE_FACTORIES: dict[str, StoreFactory] = {
    "sqlite": lambda request, name: SQLiteStore(request.getfixturevalue("tmp_path") / f"{name}.db"),
    "postgres": lambda request, name: _pg_store(request, name),
}

MemoryFactory = Callable[..., Memory]


def _pg_store(request: pytest.FixtureRequest, name: str) -> Store:
    from tests.support.pg_fixtures import pg_store  # imported here: pytest_plugins loads it first

    return pg_store(request, name)


class FlushingMemory(Memory):
    """The default, background Memory, waiting for its pipeline after every write: the
    contract suite then runs through the real queue, worker thread and stage, with the
    read-your-writes its assertions need."""

    def _flushed(self, value: Any) -> Any:
        report = self.flush(timeout=30)
        assert report.remaining == 0 and report.failed == 0, report
        return value

    def add(self, *args: Any, **kwargs: Any) -> Any:
        return self._flushed(super().add(*args, **kwargs))

    def add_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._flushed(super().add_many(*args, **kwargs))

    def update(self, *args: Any, **kwargs: Any) -> Any:
        return self._flushed(super().update(*args, **kwargs))

    def supersede(self, *args: Any, **kwargs: Any) -> Any:
        return self._flushed(super().supersede(*args, **kwargs))

    def import_jsonl(self, *args: Any, **kwargs: Any) -> Any:
        return self._flushed(super().import_jsonl(*args, **kwargs))


# how writes reach the vectors: "inline" (background=False: embedded inside the write) or
# "background" (queued, embedded by the worker thread, flushed after each write)
MODES = ("inline", "background")


def make_memory(mode: str, *args: Any, **kwargs: Any) -> Memory:
    if mode == "inline":
        return Memory(*args, background=False, **kwargs)
    return FlushingMemory(*args, **kwargs)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session", autouse=True)
def engram_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Derived files (the quantised default model, embedding caches) go to one directory per test
    session, never to the user's cache: the model is quantised once per session and shared by
    every test and every CLI subprocess (they inherit the environment)."""
    path = tmp_path_factory.mktemp("engram-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ENGRAM_CACHE_DIR", str(path))
        yield path


@pytest.fixture
def mem(db_factory: Callable[[str], Any]) -> Iterator[Memory]:
    """A Memory on a fresh database of each store (a SQLite file, a PostgreSQL database) with the
    hash embedder, embedding inline (the background pipeline has its own tests, and the contract
    suite runs in both modes)."""
    m = Memory(db_factory("mem"), embedder="hash", background=False)
    yield m
    m.close()


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store_factory(request: pytest.FixtureRequest) -> Callable[[str], Store]:
    """Makes fresh stores of the parametrised backend; ``store_factory("db2")`` is a second, independent one."""
    factory = STORE_FACTORIES[request.param]
    return lambda name="db": factory(request, name)


@pytest.fixture
def memory_factory(store_factory: Callable[[str], Store], mode: str) -> Iterator[MemoryFactory]:
    """Memory facades over the parametrised store (hash embedder) in each write mode; all
    closed at teardown."""
    opened: list[Memory] = []

    def make(name: str = "db") -> Memory:
        m = make_memory(mode, store=store_factory(name), embedder="hash")
        opened.append(m)
        return m

    yield make
    for m in opened:
        m.close()
