"""The facts part of the Memory facade: facts with their validity, and profiles read from them."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from engramdb.core.errors import ValidationError
from engramdb.core.models import Kind, MemoryRecord, Records, SearchResult, utcnow
from engramdb.core.profile import Profile, Slot, SlotValue
from engramdb.core.timeparse import parse_datetime
from engramdb.engine.inputs import TimeLike
from engramdb.lifecycle.facts import USER
from engramdb.retrieval.tokens import count_tokens

_MAX_FACTS = 10_000
PROFILE_SHARE = 8  # the profile goes first in a context when it takes at most 1/8 of the budget


class KnowledgeFacade:
    """Mixed into Memory, which provides ``list``."""

    list: Callable[..., Records]

    def facts(self, *, user_id: str | None = None, agent_id: str | None = None, session_id: str | None = None,
              subject: str | None = None, attribute: str | None = None, valid_at: TimeLike | None = None,
              as_of: TimeLike | None = None, include_superseded: bool = False,
              limit: int = 100, offset: int = 0) -> Records:
        """Facts of a scope (those that hold now by default; ``valid_at``: those that held
        then; ``include_superseded``: every fact, each with ``valid_to`` and ``superseded_by``),
        optionally of one slot."""
        filters: dict[str, object] = {}
        if subject is not None:
            filters["subject"] = subject
        if attribute is not None:
            filters["attribute"] = attribute
        return self.list(user_id=user_id, agent_id=agent_id, session_id=session_id, kinds=[Kind.FACT],
                         filters=filters or None, valid_at=valid_at, as_of=as_of,
                         include_superseded=include_superseded, limit=limit, offset=offset)

    def profile_prefix(self, user_id: str | None, agent_id: str | None, valid_at: TimeLike | None,
                       budget: int | None) -> tuple[str, int] | None:
        """The profile's text and its tokens, when a search's context has room for it."""
        if budget is None or user_id is None:
            return None
        text = self.profile(user_id, agent_id=agent_id, valid_at=valid_at).text()
        tokens = count_tokens(text) + 1 if text else 0  # + the newline before the memories
        if not text or tokens > budget // PROFILE_SHARE:
            return None
        return text, tokens

    def profile(self, user_id: str | None = None, *, agent_id: str | None = None, subject: str = USER,
                valid_at: TimeLike | None = None) -> Profile:
        """The user's profile: for every slot its facts name (home city, employer, ...), the
        value that holds now (or at ``valid_at``) and every value it held, from the facts the
        pipeline extracted and reconciled (and those added with a slot)."""
        if user_id is None and agent_id is None:
            raise ValidationError("profile needs a user_id or an agent_id")
        when = parse_datetime(valid_at) if valid_at is not None else None
        every = self.facts(user_id=user_id, agent_id=agent_id, subject=subject, include_superseded=True,
                           limit=_MAX_FACTS)
        slots = build_slots([f for f in every if f.attribute is not None], when or utcnow())
        return Profile(user_id, agent_id, subject, tuple(slots), when)


def with_profile(result: SearchResult, text: str, budget: int | None) -> SearchResult:
    """The profile first, then the memories (the search ran with what the profile left)."""
    context = f"{text}\n{result.context}" if result.context else text
    tokens = count_tokens(context)
    if budget is not None and tokens > budget:
        return result  # a merge across the join cost a token too many: the memories alone
    return replace(result, context=context, context_tokens=tokens, budget_tokens=budget)


def build_slots(facts: Sequence[MemoryRecord], at: datetime) -> builtins.list[Slot]:
    by_attribute: dict[str, builtins.list[MemoryRecord]] = {}
    for fact in sorted(facts, key=lambda f: (f.event_time, f.id)):
        if fact.attribute is not None:
            by_attribute.setdefault(fact.attribute, []).append(fact)
    slots = []
    for attribute, group in sorted(by_attribute.items()):
        history = tuple(_value(f) for f in group if f.event_time <= at)
        current = tuple(v for v in history if v.valid_to is None or v.valid_to > at)
        if history:
            slots.append(Slot(attribute, current, history))
    return slots


def _value(fact: MemoryRecord) -> SlotValue:
    value = fact.metadata.get("value")
    return SlotValue(value if isinstance(value, str) else fact.content, fact.content, fact.event_time,
                     fact.valid_to, fact.id)
