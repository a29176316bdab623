"""The facts part of the Memory facade: facts with their validity, and profiles read from them."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from datetime import datetime

from engramdb.core.errors import ValidationError
from engramdb.core.models import Kind, MemoryRecord, Records, utcnow
from engramdb.core.profile import Profile, Slot, SlotValue
from engramdb.core.timeparse import parse_datetime
from engramdb.engine.inputs import TimeLike
from engramdb.lifecycle.facts import USER

_MAX_FACTS = 10_000


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
