"""The background pipeline's part of the Memory facade: flush, start, status, jobs, retry."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence

from engramdb.core.bounds import INT64_MAX
from engramdb.core.errors import ValidationError
from engramdb.core.jobs import FlushReport, JobInfo, QueueStatus
from engramdb.engine.inputs import maybe_scope
from engramdb.pipeline.runner import Pipeline


class PipelineFacade:
    """Mixed into Memory, which sets ``pipeline``."""

    pipeline: Pipeline


    def flush(self, timeout: float | None = None, *, user_id: str | None = None, agent_id: str | None = None,
              session_id: str | None = None, on_progress: Callable[[int], None] | None = None) -> FlushReport:
        """Wait until every queued job (of a scope, if given) is done or has failed for good;
        ``timeout`` (seconds) bounds the wait and the report says what is left. ``on_progress``
        is called now and then with the number of jobs still open."""
        return self.pipeline.flush(maybe_scope(user_id, agent_id, session_id), timeout, on_progress)

    def start(self) -> None:
        """Start the background worker thread now (writes start it anyway): a long-running
        process that only reads then still catches up on work queued by others."""
        self.pipeline.start()

    def status(self, *, user_id: str | None = None, agent_id: str | None = None,
               session_id: str | None = None) -> QueueStatus:
        """The queue per stage: pending, running and failed jobs, the oldest pending one, throughput."""
        return self.pipeline.status(maybe_scope(user_id, agent_id, session_id))

    def jobs(self, *, state: str | None = None, stage: str | None = None, limit: int = 100) -> builtins.list[JobInfo]:
        """Queued jobs, oldest first (``state="failed"`` lists the ones set aside, with their error)."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= INT64_MAX:
            raise ValidationError(f"limit must be an integer from 0 to {INT64_MAX}")
        return self.pipeline.jobs(state, stage, limit)

    def retry(self, *, stage: str | None = None, ids: Sequence[int] | None = None) -> int:
        """Put failed jobs back in the queue (all, or of a stage, or these ids); returns how many."""
        return self.pipeline.retry(stage, ids)
