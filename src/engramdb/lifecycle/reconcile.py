"""Stage ``reconcile``: each new fact against the scope's current facts.

Rules (no LLM): a fact whose value repeats a current fact of the same slot is a duplicate
(merged into the older one: NOOP with combined provenance); a different value of a
single-valued slot supersedes the current one when it was said later, or is itself closed
by the later one when it was said earlier (an import out of order never loses the new
fact); facts without a slot merge only with near-identical statements. Nothing is deleted
on contradiction: a superseded fact stays readable with ``valid_at`` / ``as_of`` and in
history. With an LLM, the model decides against the fact's candidates (llm_reconcile.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

from engramdb.core.filters import Cond, Group
from engramdb.core.jobs import Merge, StageOutput, Supersession
from engramdb.core.models import Kind, MemoryRecord, Scope
from engramdb.core.ports import LLM, ReadSpec, Store
from engramdb.lifecycle.llm_reconcile import candidates, reconcile_one
from engramdb.lifecycle.prompts import Prompt, load_prompt, stage_version
from engramdb.lifecycle.rules import same_value

RECONCILE_STAGE = "reconcile"
RECONCILE_VERSION = 1
RECONCILE_PROMPT = "reconcile"
NEAR_DUPLICATE = 0.85  # token Jaccard of two statements without a slot
_CANDIDATES = 200


def reconciles(record: MemoryRecord) -> bool:
    return record.kind == Kind.FACT


class ReconcileStage:
    name = RECONCILE_STAGE

    def __init__(self, store: Store, *, llm: LLM | None = None) -> None:
        self._store = store
        self._llm = llm
        self._prompt = load_prompt(RECONCILE_PROMPT) if llm is not None else None
        #: the rules' version, or with an LLM the logic's and the prompt's (a prompt edit bumps it)
        self.version = RECONCILE_VERSION if self._prompt is None else stage_version(RECONCILE_VERSION,
                                                                                   self._prompt)

    def run(self, records: Sequence[MemoryRecord]) -> StageOutput:
        if self._llm is not None and self._prompt is not None:
            return self._by_llm(self._llm, self._prompt, records)
        supersede: list[Supersession] = []
        merge: list[Merge] = []
        for fact in records:
            if fact.kind != Kind.FACT or fact.superseded_at is not None:
                continue
            others = [o for o in self._peers(fact) if o.id != fact.id]
            merges, supersessions = decide(fact, others)
            merge.extend(merges)
            supersede.extend(supersessions)
        return StageOutput(supersede=tuple(supersede), merge=tuple(merge), version=self.version)

    def _by_llm(self, llm: LLM, prompt: Prompt, records: Sequence[MemoryRecord]) -> StageOutput:
        """One verdict (at most one call) per new fact; an LLMError fails the batch's jobs,
        which the queue retries (each alone) with backoff."""
        writes = [reconcile_one(llm, prompt, fact, candidates(self._store, fact)) for fact in records
                  if fact.kind == Kind.FACT and fact.superseded_at is None]
        return StageOutput(records=tuple(r for w in writes for r in w.records),
                           jobs=tuple(j for w in writes for j in w.jobs),
                           supersede=tuple(s for w in writes for s in w.supersede),
                           merge=tuple(m for w in writes for m in w.merge), version=self.version)

    def _peers(self, fact: MemoryRecord) -> list[MemoryRecord]:
        scope = fact.scope
        where: Cond | Group | None = None
        if fact.subject is not None and fact.attribute is not None:
            where = Group("and", (Cond("subject", "eq", fact.subject), Cond("attribute", "eq", fact.attribute)))
        spec = ReadSpec(Scope(scope.user_id, scope.agent_id, scope.session_id), filters=where,
                        kinds=(Kind.FACT,))
        return self._store.list(spec, limit=_CANDIDATES, newest_first=True)


def decide(fact: MemoryRecord, others: Sequence[MemoryRecord]) -> tuple[list[Merge], list[Supersession]]:
    """The rule verdict for ``fact`` against the current facts ``others`` of its scope (its slot).

    Every current fact of the slot is grouped by value; each group merges into its oldest
    member (by event time, then id), and for a single-valued slot the groups form one chain
    in event-time order, each value closed when the next was said. The verdict depends only
    on the facts, not on which job runs first, so two workers reconciling twins or rivals at
    once agree. Only derived memories (with provenance) are merged away, never one a caller
    added."""
    if fact.subject is None or fact.attribute is None:
        twins = [o for o in others if _jaccard(o.content, fact.content) >= NEAR_DUPLICATE]
        return (_merges([fact, *twins]) if twins else []), []
    groups: list[list[MemoryRecord]] = []
    for rec in sorted([fact, *others], key=_order):
        home = next((g for g in groups if same_value(_value(g[0]), _value(rec))), None)
        if home is None:
            groups.append([rec])
        else:
            home.append(rec)
    merges = [m for g in groups if len(g) > 1 for m in _merges(g)]
    if not fact.metadata.get("single", True):
        return merges, []
    chain = sorted((g[0] for g in groups), key=_order)
    return merges, [Supersession(a.id, b.id, b.event_time) for a, b in pairwise(chain)]


def _merges(group: Sequence[MemoryRecord]) -> list[Merge]:
    kept = min(group, key=_order)
    return [Merge(kept.id, r.id) for r in group if r.id != kept.id and r.provenance]


def _order(rec: MemoryRecord) -> tuple[float, str]:
    return rec.event_time.timestamp(), rec.id


def _value(rec: MemoryRecord) -> str:
    value = rec.metadata.get("value")
    return value if isinstance(value, str) else rec.content


def _jaccard(a: str, b: str) -> float:
    sa, sb = set(re.findall(r"\w+", a.casefold())), set(re.findall(r"\w+", b.casefold()))
    return len(sa & sb) / len(sa | sb) if sa and sb else 0.0
