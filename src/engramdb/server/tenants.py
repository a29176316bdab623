"""One Memory per tenant, opened on first use and kept in a small LRU pool; every tenant's
Memory shares the server's one embedder instance (one model in RAM, whatever the tenants)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from engramdb.core.ports import Embedder
from engramdb.engine.memory import Memory
from engramdb.pipeline.worker import WorkerOptions
from engramdb.registry import tenant_db

OPEN_TENANTS = 32


class TenantPool:
    def __init__(self, db: str | Path | None, embedder: Embedder, *, size: int = OPEN_TENANTS,
                 close_timeout: float = 10.0, worker_threads: int = 2) -> None:
        self.db = db
        self.embedder = embedder
        self.size = size
        self.close_timeout = close_timeout
        self.worker = WorkerOptions(threads=worker_threads)
        self._open: OrderedDict[str, Memory] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, tenant: str) -> Memory:
        """The tenant's Memory (its database is made on first use: a key was issued for it)."""
        with self._lock:
            mem = self._open.get(tenant)
            if mem is not None:
                self._open.move_to_end(tenant)
                return mem
        mem = Memory(tenant_db(self.db, tenant), embedder=self.embedder, close_timeout=self.close_timeout,
                     worker=self.worker)
        evicted: list[Memory] = []
        with self._lock:
            if tenant in self._open:  # another request opened it meanwhile
                evicted.append(mem)
                mem = self._open[tenant]
            else:
                self._open[tenant] = mem
                while len(self._open) > self.size:
                    evicted.append(self._open.popitem(last=False)[1])
        for old in evicted:  # leaves its queue durable for the next open
            threading.Thread(target=old.close, name="engram-evict", daemon=True).start()
        return mem

    def opened(self) -> dict[str, Memory]:
        with self._lock:
            return dict(self._open)

    def close(self) -> None:
        with self._lock:
            mems = list(self._open.values())
            self._open.clear()
        for mem in mems:
            mem.close()
