"""Stage ``extract``: facts from what users (or named speakers) say.

Without an LLM it applies the rules of rules.py to first-person turns; each fact is a memory
of kind ``fact`` with its slot (subject, attribute), its value, the source turn as
provenance and the turn's event time. With an LLM (llm_extract.py) every turn of a
conversation is read, one call per conversation of the batch (assistant turns give context;
the prompt takes no fact from them alone). It queues the new facts' own jobs (embedding,
reconciliation)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from engramdb.core.jobs import JobSpec, StageOutput
from engramdb.core.models import Kind, MemoryRecord
from engramdb.core.ports import LLM
from engramdb.lifecycle import rules
from engramdb.lifecycle.facts import fact_record, subject_of
from engramdb.lifecycle.llm_extract import extract_group, groups
from engramdb.lifecycle.prompts import load_prompt, stage_version

EXTRACT_STAGE = "extract"
RULES_VERSION = 1
EXTRACT_PROMPT = "extract_facts"


def extracts_from(record: MemoryRecord, *, llm: bool = False) -> bool:
    """Whether a write of ``record`` queues an extraction job: with an LLM every turn or note
    (the model reads the whole conversation), with the rules first-person ones only."""
    if record.kind not in (Kind.TURN, Kind.NOTE):
        return False
    return llm or subject_of(record) is not None


class ExtractStage:
    name = EXTRACT_STAGE

    def __init__(self, jobs_for: Callable[[Sequence[MemoryRecord]], list[JobSpec]], *,
                 llm: LLM | None = None) -> None:
        self._jobs_for = jobs_for
        self._llm = llm
        self._prompt = load_prompt(EXTRACT_PROMPT) if llm is not None else None
        #: the rules' version, or with an LLM the rules' and the prompt's (a prompt edit bumps it)
        self.version = RULES_VERSION if self._prompt is None else stage_version(RULES_VERSION, self._prompt)

    def run(self, records: Sequence[MemoryRecord]) -> StageOutput:
        turns = [r for r in records if r.kind in (Kind.TURN, Kind.NOTE)]
        if self._llm is not None and self._prompt is not None:
            facts = [f for group in groups(turns) for f in extract_group(self._llm, self._prompt, group)]
        else:
            facts = _by_rules(turns)
        return StageOutput(records=tuple(facts), jobs=tuple(self._jobs_for(facts)), version=self.version)


def _by_rules(turns: Sequence[MemoryRecord]) -> list[MemoryRecord]:
    facts: list[MemoryRecord] = []
    for rec in turns:
        who = subject_of(rec)
        if who is None:
            continue
        subject, named = who
        for found in rules.extract(rec.content, named):
            facts.append(fact_record(rec, subject=subject, attribute=found.attribute, value=found.value,
                                     statement=found.statement, single=found.single, extractor="rules"))
    return facts
