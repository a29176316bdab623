"""Facts from a batch of turns with an LLM: one call per conversation (scope and session).

The model sees the batch's turns of one session in order, each under a short id ("t1",
"t2", ...), with speaker, role and time, and answers facts (prompts/extract_facts.md). A
fact names the turns it comes from; only ids of the call's own turns count (the short id or
the memory id), and a fact citing none is dropped: every fact's provenance is turns of this
batch. An answer that is not valid after the port's repair round, a timeout or an HTTP
error is an LLMError: the stage fails, the queue retries its jobs with backoff, and the raw
turns stay stored and searchable meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from engramdb.core.errors import ValidationError
from engramdb.core.models import MemoryRecord, utcnow
from engramdb.core.ports import LLM, ChatMessage
from engramdb.core.timeparse import parse_datetime
from engramdb.lifecycle.facts import USER, fact_record, subject_of
from engramdb.lifecycle.prompts import EXTRACT_FACTS_SCHEMA, Prompt

SCHEMA_NAME = "extract_facts"
MAX_FACTS = 64  # per call: more is a runaway answer, not a conversation's facts
MAX_CHARS = 2000  # per statement, likewise


def groups(records: Sequence[MemoryRecord]) -> list[list[MemoryRecord]]:
    """The batch's turns per conversation (user, agent, session), each in conversation order."""
    by_scope: dict[tuple[str | None, str | None, str | None], list[MemoryRecord]] = {}
    for rec in records:
        s = rec.scope
        by_scope.setdefault((s.user_id, s.agent_id, s.session_id), []).append(rec)
    return [sorted(g, key=lambda r: (r.event_time, r.created_at, r.id)) for g in by_scope.values()]


def messages_for(prompt: Prompt, turns: Sequence[MemoryRecord], now: datetime) -> list[ChatMessage]:
    listed = [{"id": f"t{i}", "speaker": t.speaker, "role": t.role, "time": t.event_time.isoformat(),
               "text": t.content} for i, t in enumerate(turns, 1)]
    payload = {"turns": listed, "now": now.isoformat()}
    return [{"role": "system", "content": prompt.text},
            {"role": "user", "content": json.dumps(payload, ensure_ascii=False)}]


def extract_group(llm: LLM, prompt: Prompt, turns: Sequence[MemoryRecord]) -> list[MemoryRecord]:
    """One call for one conversation's turns; the facts it answers, as fact records."""
    answer = llm.complete_json(messages_for(prompt, turns, utcnow()), EXTRACT_FACTS_SCHEMA, name=SCHEMA_NAME)
    by_id = {f"t{i}": t for i, t in enumerate(turns, 1)} | {t.id: t for t in turns}
    facts: list[MemoryRecord] = []
    for item in answer.data["facts"][:MAX_FACTS]:
        fact = _fact(item, by_id, prompt)
        if fact is not None:
            facts.append(fact)
    return facts


def _fact(item: dict[str, Any], by_id: dict[str, MemoryRecord], prompt: Prompt) -> MemoryRecord | None:
    cited = {by_id[i].id: by_id[i] for i in item["source_turn_ids"] if isinstance(i, str) and i in by_id}
    sources = list(cited.values())
    statement, attribute = _text(item["statement"]), _text(item["attribute"])
    if not sources or not statement or not attribute or len(statement) > MAX_CHARS:
        return None  # a fact no turn of this call backs, an empty one, a runaway one
    first = sources[0]
    subject = _text(item["subject"]) or USER
    if subject.casefold() == USER and (who := subject_of(first)) is not None:
        subject = who[0]  # the slot's subject as the rules name it: the speaker, else "user"
    return fact_record(first, subject=subject[:200], attribute=attribute[:200], value=_text(item["value"])[:MAX_CHARS],
                       statement=statement,
                       single=False, extractor="llm", provenance=[s.id for s in sources],
                       event_time=_when(item["event_time"]),
                       extra={"prompt": prompt.name, "prompt_version": prompt.version}, sources=sources)


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _when(value: Any) -> datetime | None:
    """The fact's event time when the model gives a readable one; else the turn's (None)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_datetime(value.strip())
    except ValidationError:
        return None
