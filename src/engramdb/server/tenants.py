"""One Memory per tenant, opened on first use and kept in a small LRU pool; every tenant's
Memory shares the server's one embedder instance (one model in RAM, whatever the tenants).

Requests *lease* a tenant's Memory and give it back when their response is sent: a Memory the
LRU evicts while a request still uses it is closed only when its last lease ends (closing it at
once failed those requests with "Cannot operate on a closed database")."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engramdb.core.ports import Embedder
from engramdb.engine.memory import Memory
from engramdb.pipeline.worker import WorkerOptions
from engramdb.registry import tenant_db

OPEN_TENANTS = 32


@dataclass
class _Entry:
    mem: Memory
    leases: int = 0
    evicted: bool = False


class TenantPool:
    def __init__(self, db: str | Path | None, embedder: Embedder, *, size: int = OPEN_TENANTS,
                 close_timeout: float = 10.0, worker_threads: int = 2, facts: bool | None = None) -> None:
        self.db = db
        self.facts = facts  # None: $ENGRAM_FACTS (Memory's default)
        self.embedder = embedder
        self.size = size
        self.close_timeout = close_timeout
        self.worker = WorkerOptions(threads=worker_threads)
        self._open: OrderedDict[str, _Entry] = OrderedDict()
        self._leased: dict[int, _Entry] = {}  # id(mem) -> entry, for every leased Memory
        self._lock = threading.Lock()

    def acquire(self, tenant: str) -> Memory:
        """The tenant's Memory (its database is made on first use: a key was issued for it),
        kept open until :meth:`release` is called with it."""
        return self._get(tenant, lease=True)

    def release(self, mem: Memory) -> None:
        with self._lock:
            entry = self._leased.get(id(mem))
            if entry is None:
                return
            entry.leases -= 1
            if entry.leases:
                return
            del self._leased[id(mem)]
            closing = entry.evicted
        if closing:
            _close_later(mem)

    @contextmanager
    def lease(self, tenant: str) -> Iterator[Memory]:
        mem = self.acquire(tenant)
        try:
            yield mem
        finally:
            self.release(mem)

    def get(self, tenant: str) -> Memory:
        """The tenant's Memory without a lease: it may be closed under the caller when the pool
        evicts it (prefer :meth:`lease`)."""
        return self._get(tenant, lease=False)

    def _get(self, tenant: str, *, lease: bool) -> Memory:
        with self._lock:
            entry = self._open.get(tenant)
            if entry is not None:
                self._open.move_to_end(tenant)
                return self._take(entry, lease)
        mem = Memory(tenant_db(self.db, tenant), embedder=self.embedder, close_timeout=self.close_timeout,
                     worker=self.worker, facts=self.facts)
        evicted: list[Memory] = []
        with self._lock:
            entry = self._open.get(tenant)
            if entry is not None:  # another request opened it meanwhile
                evicted.append(mem)
            else:
                entry = self._open[tenant] = _Entry(mem)
                while len(self._open) > self.size:
                    _, old = self._open.popitem(last=False)
                    old.evicted = True
                    if not old.leases:
                        evicted.append(old.mem)
            mem = self._take(entry, lease)
        for old_mem in evicted:  # leaves its queue durable for the next open
            _close_later(old_mem)
        return mem

    def _take(self, entry: _Entry, lease: bool) -> Memory:
        if lease:
            entry.leases += 1
            self._leased[id(entry.mem)] = entry
        return entry.mem

    def opened(self) -> dict[str, Memory]:
        with self._lock:
            return {tenant: entry.mem for tenant, entry in self._open.items()}

    def close(self) -> None:
        with self._lock:
            mems = {id(e.mem): e.mem for e in (*self._open.values(), *self._leased.values())}
            self._open.clear()
            self._leased.clear()
        for mem in mems.values():
            mem.close()


def _close_later(mem: Memory) -> None:
    threading.Thread(target=mem.close, name="engram-evict", daemon=True).start()
