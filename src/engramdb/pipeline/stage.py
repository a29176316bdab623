"""What a stage is: a named, versioned step that turns records into derived writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from engramdb.core.jobs import StageOutput
from engramdb.core.models import MemoryRecord


class Stage(Protocol):
    """Consumes records (one batch of claimed jobs) and returns what to write for them.

    A stage never writes itself and never calls another stage: the worker writes its
    output in the transaction that completes the jobs, and derived records it produces
    queue the jobs of the stages that consume them. Running a stage twice on the same
    records must give the same writes (a job is redone after a crash).
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    def run(self, records: Sequence[MemoryRecord]) -> StageOutput: ...
