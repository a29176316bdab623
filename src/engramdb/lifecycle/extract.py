"""Stage ``extract``: facts from what a user (or a named speaker) says about themselves.

Without an LLM it applies the rules of rules.py; each fact is a memory of kind ``fact`` with
its slot (subject, attribute), its value, the source turn as provenance and the turn's event
time. It queues the new facts' own jobs (embedding, reconciliation)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from engramdb.core.jobs import JobSpec, StageOutput
from engramdb.core.models import Kind, MemoryRecord
from engramdb.lifecycle import rules
from engramdb.lifecycle.facts import fact_record, subject_of

EXTRACT_STAGE = "extract"
RULES_VERSION = 1


def extracts_from(record: MemoryRecord) -> bool:
    return record.kind in (Kind.TURN, Kind.NOTE) and subject_of(record) is not None


class ExtractStage:
    name = EXTRACT_STAGE
    version = RULES_VERSION

    def __init__(self, jobs_for: Callable[[Sequence[MemoryRecord]], list[JobSpec]]) -> None:
        self._jobs_for = jobs_for

    def run(self, records: Sequence[MemoryRecord]) -> StageOutput:
        facts: list[MemoryRecord] = []
        for rec in records:
            who = subject_of(rec)
            if who is None or rec.kind not in (Kind.TURN, Kind.NOTE):
                continue
            subject, named = who
            for found in rules.extract(rec.content, named):
                facts.append(fact_record(rec, subject=subject, attribute=found.attribute, value=found.value,
                                         statement=found.statement, single=found.single, extractor="rules"))
        return StageOutput(records=tuple(facts), jobs=tuple(self._jobs_for(facts)), version=self.version)
