"""Recall statistics, buffered: a search notes what it packed in memory, and the counts reach
the store in one write every ``flush_s`` seconds (and at close / before a maintenance pass),
not one write per search: with many searches at once, a write per search queued them all
behind the store's one write lock. A process killed meanwhile loses the last seconds of
statistics, never content."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime

from engramdb.core.errors import StoreError
from engramdb.core.models import Hit, utcnow
from engramdb.core.ports import Store

log = logging.getLogger("engramdb.retention")


class RecallBuffer:
    def __init__(self, store: Store, flush_s: float = 2.0) -> None:
        self.store = store
        self.flush_s = flush_s
        self._pending: dict[str, tuple[int, datetime]] = {}
        self._lock = threading.Lock()
        self._flushed = time.monotonic()

    def add(self, packed: Sequence[Hit]) -> None:
        if not packed:
            return
        at = utcnow()
        with self._lock:
            for hit in packed:
                count, _ = self._pending.get(hit.record.id, (0, at))
                self._pending[hit.record.id] = (count + 1, at)
            due = time.monotonic() - self._flushed >= self.flush_s
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the counts noted so far. A store that cannot take them (a read-only file, a lock
        held past the timeout) costs the statistic, not a search's answer."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._flushed = time.monotonic()
        if not pending:
            return
        by_count: dict[tuple[int, datetime], list[str]] = {}
        for memory_id, key in pending.items():
            by_count.setdefault(key, []).append(memory_id)
        try:
            for (count, at), ids in by_count.items():
                self.store.record_recalls(ids, at, count=count)
        except StoreError as exc:
            log.warning("recall statistics not recorded: %s", exc)
