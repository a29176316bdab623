"""Reconciliation with an LLM: each new fact against the few current facts it may be about.

Candidates are the scope's current facts of the same slot (subject, attribute), then the
best keyword (BM25) matches of its statement among the scope's facts, at most ten. Without
candidates the fact is simply kept (no call). Otherwise one call decides
(prompts/reconcile.md), mapped onto the pipeline's writes:

- ADD: nothing to write; the new fact stands.
- SUPERSEDE: the target stops holding when the new fact was said (valid_to, superseded_by);
  a new fact said before its target is the one closed instead (an import out of order).
- UPDATE: both hold and the new fact refines the target: a refined fact (the model's merged
  statement, the provenance of both) supersedes both; without a statement, as SUPERSEDE.
- NOOP: the target already says it: the new fact merges into it (its provenance joins).

A target that is not among the candidates is ignored (ADD). Nothing is deleted on a
contradiction, and the new fact is never lost: it stays current, is superseded (readable
with ``valid_at`` / ``as_of`` and in history) or merged (its sources named by the kept one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from engramdb.core.filters import Cond, Group
from engramdb.core.ids import new_id
from engramdb.core.jobs import EMBED_STAGE, JobSpec, Merge, Supersession
from engramdb.core.models import Kind, MemoryRecord, content_hash, utcnow
from engramdb.core.ports import LLM, ChatMessage, ReadSpec, Store
from engramdb.lifecycle.prompts import RECONCILE_SCHEMA, Prompt
from engramdb.retrieval.terms import query_terms

SCHEMA_NAME = "reconcile"
MAX_CANDIDATES = 10


@dataclass(frozen=True, slots=True)
class Writes:
    """What one verdict writes."""

    records: tuple[MemoryRecord, ...] = ()
    jobs: tuple[JobSpec, ...] = ()
    supersede: tuple[Supersession, ...] = ()
    merge: tuple[Merge, ...] = ()


def candidates(store: Store, fact: MemoryRecord, limit: int = MAX_CANDIDATES) -> list[MemoryRecord]:
    """The scope's current facts that ``fact`` may repeat, refine or contradict: its slot's
    (newest first), then the best keyword matches of its statement."""
    base = ReadSpec(fact.scope, kinds=(Kind.FACT,), at=utcnow())
    found: dict[str, MemoryRecord] = {}
    if fact.subject is not None and fact.attribute is not None:
        slot = Group("and", (Cond("subject", "eq", fact.subject), Cond("attribute", "eq", fact.attribute)))
        for rec in store.list(replace(base, filters=slot), limit=limit + 1, newest_first=True):
            found.setdefault(rec.id, rec)
    terms = query_terms(fact.content)
    if terms and len(found) <= limit:
        hits = store.text_search(base, terms, limit + 1)
        records = store.fetch([h.ref for h in hits], base)
        for hit in hits:
            if (match := records.get(hit.ref)) is not None:
                found.setdefault(match.id, match)
    return [r for r in found.values() if r.id != fact.id and r.kind == Kind.FACT][:limit]


def messages_for(prompt: Prompt, fact: MemoryRecord, others: Sequence[MemoryRecord]) -> list[ChatMessage]:
    listed = [{"id": f"f{i}", **_described(o)} for i, o in enumerate(others, 1)]
    payload = {"new": _described(fact), "candidates": listed}
    return [{"role": "system", "content": prompt.text},
            {"role": "user", "content": json.dumps(payload, ensure_ascii=False)}]


def reconcile_one(llm: LLM, prompt: Prompt, fact: MemoryRecord, others: Sequence[MemoryRecord]) -> Writes:
    """The LLM's verdict on ``fact`` against ``others`` (its candidates), as writes."""
    if not others:
        return Writes()
    answer = llm.complete_json(messages_for(prompt, fact, others), RECONCILE_SCHEMA, name=SCHEMA_NAME).data
    by_id = {f"f{i}": o for i, o in enumerate(others, 1)} | {o.id: o for o in others}
    target = by_id.get(answer["target_id"]) if isinstance(answer["target_id"], str) else None
    decision = answer["decision"]
    if target is None or decision == "ADD":
        return Writes()
    if decision == "NOOP":
        return Writes(merge=(Merge(target.id, fact.id),))
    statement = " ".join(answer["statement"].split()) if isinstance(answer["statement"], str) else ""
    if decision == "UPDATE" and statement:
        return _refined(fact, target, statement, prompt)
    return Writes(supersede=(_closing(target, fact),))


def _closing(old: MemoryRecord, new: MemoryRecord) -> Supersession:
    """``new`` supersedes ``old``, unless it was said earlier: then the later one closes it."""
    if new.event_time < old.event_time:
        return Supersession(new.id, old.id, old.event_time)
    return Supersession(old.id, new.id, new.event_time)


def _refined(fact: MemoryRecord, target: MemoryRecord, statement: str, prompt: Prompt) -> Writes:
    """A fact that says both: the new fact's slot and time, the refined statement, the sources
    of both (and the new fact's id, which the write checks against this job)."""
    now = utcnow()
    sources = tuple(dict.fromkeys([*fact.provenance, *target.provenance, fact.id]))
    metadata: dict[str, Any] = {**fact.metadata, "refines": [target.id, fact.id], "reconciled_by": "llm",
                                "reconcile_prompt_version": prompt.version}
    refined = replace(fact, id=new_id(), content=statement, content_hash=content_hash(statement), created_at=now,
                      updated_at=now, metadata=metadata, provenance=sources, version=1,
                      event_time=max(fact.event_time, target.event_time))
    return Writes(records=(refined,), jobs=(JobSpec(EMBED_STAGE, refined.id),),
                  supersede=(Supersession(target.id, refined.id, refined.event_time),
                             Supersession(fact.id, refined.id, refined.event_time)))


def _described(rec: MemoryRecord) -> dict[str, Any]:
    value = rec.metadata.get("value")
    return {"subject": rec.subject, "attribute": rec.attribute, "value": value if isinstance(value, str) else None,
            "statement": rec.content, "event_time": rec.event_time.isoformat()}
