"""A user's profile: the current value of each slot the facts name, with every slot's history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class SlotValue:
    """One value a slot held: from its fact's event time until ``valid_to`` (None: still)."""

    value: str
    statement: str
    valid_from: datetime
    valid_to: datetime | None
    fact_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "statement": self.statement, "valid_from": self.valid_from.isoformat(),
                "valid_to": self.valid_to.isoformat() if self.valid_to else None, "fact_id": self.fact_id}


@dataclass(frozen=True, slots=True)
class Slot:
    """``current``: the values that hold (one for a single-valued slot, several for a pet or a
    goal); ``history``: every value it ever held, oldest first."""

    attribute: str
    current: tuple[SlotValue, ...]
    history: tuple[SlotValue, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "current": [v.to_dict() for v in self.current],
                "history": [v.to_dict() for v in self.history]}


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: str | None
    agent_id: str | None
    subject: str
    slots: tuple[Slot, ...] = field(default_factory=tuple)
    valid_at: datetime | None = None

    def text(self) -> str:
        """What the agent is given first: one line per slot that holds a value."""
        lines = ["; ".join(v.statement for v in slot.current) for slot in self.slots if slot.current]
        return "[profile] " + ". ".join(lines) + "." if lines else ""

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "agent_id": self.agent_id, "subject": self.subject,
                "valid_at": self.valid_at.isoformat() if self.valid_at else None,
                "slots": [s.to_dict() for s in self.slots], "text": self.text()}
