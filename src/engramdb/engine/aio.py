"""AsyncMemory: a thin asyncio shell over Memory. It holds no logic of its own."""

from __future__ import annotations

import asyncio
import builtins
import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from engramdb.core.jobs import FlushReport, JobInfo, QueueStatus
from engramdb.core.models import Events, MemoryRecord, Records, ScopeSummary, SearchResult
from engramdb.core.ports import Embedder, Store
from engramdb.core.profile import Profile
from engramdb.engine.memory import Memory

T = TypeVar("T")


class AsyncMemory:
    """Same methods as :class:`Memory`, awaited; each call runs in a worker thread."""

    def __init__(self, path_or_url: str | Path | None = None, *, embedder: Embedder | str | None = None,
                 store: Store | None = None, memory: Memory | None = None, **options: Any) -> None:
        """``options`` are Memory's (``background``, ``worker``, ``close_timeout``, ...)."""
        self.sync = memory if memory is not None else Memory(path_or_url, embedder=embedder, store=store, **options)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    async def add(self, messages: Any, **kwargs: Any) -> Records:
        return await self._run(self.sync.add, messages, **kwargs)

    async def search(self, query: str, **kwargs: Any) -> SearchResult:
        return await self._run(self.sync.search, query, **kwargs)

    async def get(self, memory_id: str, **kwargs: Any) -> MemoryRecord:
        return await self._run(self.sync.get, memory_id, **kwargs)

    async def list(self, **kwargs: Any) -> Records:
        return await self._run(self.sync.list, **kwargs)

    async def facts(self, **kwargs: Any) -> Records:
        return await self._run(self.sync.facts, **kwargs)

    async def profile(self, user_id: str | None = None, **kwargs: Any) -> Profile:
        return await self._run(self.sync.profile, user_id, **kwargs)

    async def update(self, memory_id: str, **kwargs: Any) -> MemoryRecord:
        return await self._run(self.sync.update, memory_id, **kwargs)

    async def supersede(self, memory_id: str, content: str, **kwargs: Any) -> MemoryRecord:
        return await self._run(self.sync.supersede, memory_id, content, **kwargs)

    async def delete(self, memory_id: str, **kwargs: Any) -> None:
        await self._run(self.sync.delete, memory_id, **kwargs)

    async def delete_scope(self, **kwargs: Any) -> int:
        return await self._run(self.sync.delete_scope, **kwargs)

    async def forget_user(self, user_id: str) -> int:
        return await self._run(self.sync.forget_user, user_id)

    async def reindex(self, **kwargs: Any) -> int:
        return await self._run(self.sync.reindex, **kwargs)

    async def history(self, memory_id: str, **kwargs: Any) -> Events:
        return await self._run(self.sync.history, memory_id, **kwargs)

    async def count(self, **kwargs: Any) -> int:
        return await self._run(self.sync.count, **kwargs)

    async def scopes(self, **kwargs: Any) -> builtins.list[ScopeSummary]:
        return await self._run(self.sync.scopes, **kwargs)

    async def export_jsonl(self, out: IO[str], **kwargs: Any) -> int:
        return await self._run(self.sync.export_jsonl, out, **kwargs)

    async def import_jsonl(self, lines: str | Iterable[str], **kwargs: Any) -> int:
        return await self._run(self.sync.import_jsonl, lines, **kwargs)

    async def flush(self, timeout: float | None = None, **kwargs: Any) -> FlushReport:
        return await self._run(self.sync.flush, timeout, **kwargs)

    async def status(self, **kwargs: Any) -> QueueStatus:
        return await self._run(self.sync.status, **kwargs)

    async def jobs(self, **kwargs: Any) -> builtins.list[JobInfo]:
        return await self._run(self.sync.jobs, **kwargs)

    async def retry(self, **kwargs: Any) -> int:
        return await self._run(self.sync.retry, **kwargs)

    async def close(self) -> None:
        await self._run(self.sync.close)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
