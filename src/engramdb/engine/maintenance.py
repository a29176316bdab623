"""The maintenance pass: archive what is forgotten, erase what expired.

- **Archive.** A memory whose retention R (retrieval/retention.py) fell below
  ``archive_below`` gets ``archived_at``: Memory's reads leave it out from then on, unless asked
  (``include_archived=True``); ``Memory.archived()`` lists them and ``Memory.restore_archived()``
  brings them back. Nothing is deleted. Only derived memories (facts, summaries) and notes are
  archived by default: raw turns are the record of what was said, never lost, and a conversation
  read back must not have holes; ``archive_turns=True`` archives turns too. Profile entries are
  never archived (a profile is the standing picture of a user, not an episode).
- **Erase.** A memory whose ``expires_at`` has passed is deleted for good through the store's
  erasure path (its versions, history, index entries, vectors, what was derived from it, and the
  bytes: README "Erasure"), leaving a tombstone. Reads skip it from the moment it expires; the
  pass makes the file forget it too.

Work per run is bounded (``max_erase`` ids erased, ``max_archive`` archived, ``scan_per_run``
memories looked at by the periodic pass, which continues where the previous run stopped). It
runs when asked (``Memory.maintain``, ``engram maintain``), and when idle in the background
worker thread of a Memory and in ``engram worker`` processes, every ``every_s`` seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engramdb.core.bounds import INT64_MAX
from engramdb.core.errors import ValidationError
from engramdb.core.filters import parse_filters
from engramdb.core.models import Kind, Records, Scope, utcnow
from engramdb.core.ports import ReadSpec, Store
from engramdb.core.timeparse import parse_datetime
from engramdb.engine.inputs import TimeLike, maybe_scope
from engramdb.engine.recalls import RecallBuffer
from engramdb.pipeline.runner import Pipeline
from engramdb.pipeline.worker import BatchResult, IdleTask, Worker, WorkerOptions
from engramdb.retrieval.retention import S0_DAYS, memory_retention

log = logging.getLogger("engramdb.maintenance")

PAGE = 1000  # memories read per scan step
ARCHIVED_KINDS = (Kind.FACT, Kind.SUMMARY, Kind.NOTE)


@dataclass(frozen=True, slots=True)
class MaintenancePolicy:
    """When memories are archived, and how much one pass may do. ``every_s=None``: no
    periodic pass (``Memory.maintain`` and ``engram maintain`` still run it)."""

    s0_days: float = S0_DAYS  # the strength of a memory never recalled (retrieval/retention.py)
    archive_below: float = 0.05  # R under which a memory is archived (0: never archive)
    archive_turns: bool = False
    every_s: float | None = 60.0
    scan_per_run: int = 20_000  # memories the periodic pass looks at per run
    max_archive: int = 1_000
    max_erase: int = 200

    def __post_init__(self) -> None:
        if not self.s0_days > 0 or not 0 <= self.archive_below < 1:
            raise ValidationError("s0_days must be positive and archive_below in [0, 1)")
        if self.every_s is not None and not self.every_s > 0:
            raise ValidationError("every_s must be positive (None: no periodic pass)")
        if min(self.scan_per_run, self.max_archive, self.max_erase) < 1:
            raise ValidationError("scan_per_run, max_archive and max_erase must be at least 1")

    @property
    def kinds(self) -> tuple[Kind, ...]:
        return (*ARCHIVED_KINDS, Kind.TURN) if self.archive_turns else ARCHIVED_KINDS


@dataclass(frozen=True, slots=True)
class Archived:
    memory_id: str
    kind: Kind
    retention: float


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What one pass did (or, with ``dry_run``, would do) at ``at``. ``erased`` are the expired
    memories and what was derived from them (dry run: the expired ones alone; their derived
    memories would go with them). ``complete``: nothing was left for a next pass."""

    at: datetime
    dry_run: bool
    scanned: int
    archived: tuple[Archived, ...]
    erased: tuple[str, ...]
    complete: bool

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "dry_run": self.dry_run, "scanned": self.scanned,
                "archived": [{"id": a.memory_id, "kind": a.kind.value, "retention": round(a.retention, 6)}
                             for a in self.archived],
                "erased": list(self.erased), "complete": self.complete}


class Maintainer:
    """Runs passes for one Memory; the periodic pass pages through the store across runs."""

    def __init__(self, policy: MaintenancePolicy) -> None:
        self.policy = policy
        self._cursor = 0
        self._lock = threading.Lock()  # one pass at a time per Memory

    def run(self, store: Store, *, dry_run: bool = False, now: datetime | None = None,
            periodic: bool = False) -> MaintenanceReport:
        """One pass. An explicit pass looks at every memory; the periodic one at ``scan_per_run``
        of them, from where the last one stopped. A dry run writes nothing."""
        at = now or utcnow()
        with self._lock:
            p = self.policy
            expired = store.expired(at, p.max_erase + 1)
            erased = expired[:p.max_erase] if dry_run else store.erase(expired[:p.max_erase])
            start = self._cursor if periodic else 0
            # an expired memory is erased, not archived (also the ones a dry run or max_erase leaves)
            found, scanned, cursor, done = self._scan(store, at, start, p.scan_per_run if periodic else None,
                                                      skip=set(expired))
            if not dry_run and found:
                store.archive([a.memory_id for a in found], at)
            if periodic and not dry_run:
                self._cursor = cursor
        report = MaintenanceReport(at, dry_run, scanned, tuple(found), tuple(erased),
                                   complete=done and len(expired) <= p.max_erase and len(found) < p.max_archive)
        if periodic and (report.archived or report.erased):
            log.info("maintenance: %d archived, %d erased", len(report.archived), len(report.erased))
        return report

    def _scan(self, store: Store, at: datetime, start: int, budget: int | None,
              skip: set[str]) -> tuple[list[Archived], int, int, bool]:
        """(memories to archive, memories looked at, where to go on from, reached the end)."""
        p = self.policy
        found: list[Archived] = []
        scanned, cursor = 0, start
        if p.archive_below <= 0:
            return found, scanned, 0, True
        while budget is None or scanned < budget:
            page = store.retention_scan(p.kinds, after_ref=cursor, limit=PAGE)
            for stats in page:
                scanned += 1
                cursor = stats.ref
                r = memory_retention(stats, at, p.s0_days)
                if r < p.archive_below and stats.memory_id not in skip:
                    found.append(Archived(stats.memory_id, stats.kind, r))
                    if len(found) >= p.max_archive:
                        return found, scanned, cursor, False
            if len(page) < PAGE:
                return found, scanned, 0, start == 0  # the end: the next run starts over
        return found, scanned, cursor, False


class MaintainedPipeline(Pipeline):
    """The pipeline of a Memory, whose first background thread (and ``engram worker``) runs the
    maintenance pass when idle."""

    def __init__(self, *args: Any, maintainer: Maintainer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.maintainer = maintainer
        every = maintainer.policy.every_s
        self.idle_task = None if every is None else IdleTask(self._periodic, every)

    def _periodic(self, store: Store) -> object:
        return self.maintainer.run(store, periodic=True)

    def start(self) -> None:
        super().start()
        with self._lock:
            threads = list(self._threads)
        for i, thread in enumerate(threads):
            thread.idle_task = self.idle_task if i == 0 else None  # one pass per process is enough

    def work(self, stop: threading.Event, *, options: WorkerOptions | None = None,
             idle_exit_s: float | None = None, name: str | None = None) -> BatchResult:
        worker = Worker(self.store, self.stages(self.store), options or self.options, name=name)
        return worker.run_forever(stop, idle_exit_s=idle_exit_s, idle_task=lambda: self.idle_task)


class ForgettingFacade:
    """Mixed into Memory, which sets ``store`` and ``maintainer`` (its MaintainedPipeline's)."""

    store: Store
    maintainer: Maintainer
    _recalls: RecallBuffer

    def maintain(self, dry_run: bool = False, *, now: TimeLike | None = None) -> MaintenanceReport:
        """Archive what retention says is forgotten and erase what expired, over the whole
        database (at ``now``, default the current time); ``dry_run`` reports what it would do and
        changes nothing."""
        self._recalls.flush()  # the statistics noted by this process's searches count too
        return self.maintainer.run(self.store, dry_run=dry_run,
                                            now=parse_datetime(now) if now is not None else None)

    def archived(self, *, user_id: str | None = None, agent_id: str | None = None, session_id: str | None = None,
                 filters: dict[str, Any] | None = None, kinds: Sequence[Kind | str] | None = None,
                 limit: int = 100, offset: int = 0) -> Records:
        """The scope's archived memories, most recently archived first."""
        spec = ReadSpec(Scope(user_id, agent_id, session_id), filters=parse_filters(filters),
                        kinds=tuple(Kind.parse(k) for k in kinds) if kinds else None, at=utcnow())
        return self.store.list_archived(spec, limit=_count(limit), offset=_count(offset))

    def restore_archived(self, ids: Sequence[str] | str, *, user_id: str | None = None,
                         agent_id: str | None = None, session_id: str | None = None) -> int:
        """Bring archived memories (of the scope, when given) back into reads; returns how many
        were archived. A restore counts as a recall now (not in ``recalls``): their retention
        starts over from 1, so the next pass does not archive them again at once."""
        items = [ids] if isinstance(ids, str) else list(ids)
        if not all(isinstance(i, str) and i for i in items):
            raise ValidationError("ids must be memory ids (non-empty strings)")
        return self.store.unarchive(items, utcnow(), maybe_scope(user_id, agent_id, session_id))


def _count(n: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= INT64_MAX:
        raise ValidationError(f"limit and offset must be integers from 0 to {INT64_MAX}")
    return n
