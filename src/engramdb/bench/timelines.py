"""``engram bench timelines``: hand-written timelines of what a user says over time, and the
views the facts must give afterwards (the current profile, ``valid_at`` and ``as_of`` reads,
history). Written for this project (no benchmark data); the rule path runs with no LLM.

Each timeline is a list of steps (a user turn at a date, optionally with a TTL) and checks:
``("now", attribute, values)`` the profile's current values, ``("at", date, attribute,
values)`` the values that held at an event time, ``("asof", step, attribute, values)`` the
current values as memory knew them right after a step was written, ``("history", attribute,
n)`` how many values the slot ever held, ``("sources", attribute, n)`` how many turns back the
current fact, ``("gone", text)`` an expired memory no read returns."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engramdb.core.models import utcnow
from engramdb.core.ports import LLM
from engramdb.engine.memory import Memory


@dataclass(frozen=True)
class Step:
    text: str
    when: str
    ttl: float | None = None


@dataclass(frozen=True)
class Timeline:
    name: str
    steps: tuple[Step, ...]
    checks: tuple[tuple[Any, ...], ...]


TIMELINES: tuple[Timeline, ...] = (
    Timeline("moves city twice", (Step("I live in Lisbon, near the river.", "2022-01-10"),
                                  Step("Big news: I moved to Berlin last week!", "2023-03-05"),
                                  Step("I just moved to Tokyo for work.", "2024-07-01")),
             (("now", "home city", ["Tokyo"]), ("at", "2022-06-01", "home city", ["Lisbon"]),
              ("at", "2023-06-01", "home city", ["Berlin"]), ("at", "2021-01-01", "home city", []),
              ("asof", 1, "home city", ["Berlin"]), ("history", "home city", 3))),
    Timeline("changes job", (Step("I work at Google as a data analyst.", "2021-02-01"),
                             Step("I got a job at Spotify, starting Monday!", "2023-09-15")),
             (("now", "employer", ["Spotify"]), ("at", "2022-01-01", "employer", ["Google"]),
              ("asof", 0, "employer", ["Google"]), ("history", "employer", 2))),
    Timeline("says the same thing three times", (Step("I live in Paris.", "2023-01-01"),
                                                 Step("As I said, I live in Paris.", "2023-05-01"),
                                                 Step("I still live in Paris, yes.", "2023-09-01")),
             (("now", "home city", ["Paris"]), ("history", "home city", 1), ("sources", "home city", 3))),
    Timeline("contradiction then correction", (Step("I live in Rome.", "2023-01-10"),
                                               Step("I live in Milan now.", "2023-02-10"),
                                               Step("Sorry, my mistake: I live in Rome, not Milan.", "2023-03-10")),
             (("now", "home city", ["Rome"]), ("at", "2023-02-20", "home city", ["Milan"]),
              ("at", "2023-01-20", "home city", ["Rome"]), ("asof", 1, "home city", ["Milan"]))),
    Timeline("told out of order", (Step("I live in Berlin.", "2024-05-01"), Step("I live in Lisbon.", "2023-01-01")),
             (("now", "home city", ["Berlin"]), ("at", "2023-06-01", "home city", ["Lisbon"]),
              ("history", "home city", 2))),
    Timeline("changes diet", (Step("I'm vegetarian, so no steak for me.", "2022-03-01"),
                              Step("I am vegan now, since January.", "2024-02-01")),
             (("now", "diet", ["vegan"]), ("at", "2023-01-01", "diet", ["vegetarian"]))),
    Timeline("two pets", (Step("My dog is called Rex.", "2022-01-01"), Step("My cat is called Tom.", "2022-06-01")),
             (("now", "pet", ["Rex", "Tom"]), ("at", "2022-03-01", "pet", ["Rex"]))),
    Timeline("a denial is no fact", (Step("I don't live in Paris anymore.", "2023-01-01"),
                                     Step("I used to live in Porto.", "2023-02-01")),
             (("now", "home city", []),)),
    Timeline("a door code that expires", (Step("The door code is 4711 until tonight.", "2024-01-01", ttl=1.0),
                                          Step("I live in Oslo.", "2024-01-01")),
             (("gone", "4711"), ("now", "home city", ["Oslo"]))),
    # a fact drawn from a turn said under a TTL expires with it
    Timeline("a home said under a TTL", (Step("I live in Madrid.", "2024-02-01", ttl=1.0),),
             (("gone", "Madrid"), ("now", "home city", []))),
)


@dataclass
class Outcome:
    timeline: str
    check: str
    ok: bool
    got: Any = None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(o.ok for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": len(self.outcomes),
                "failed": [{"timeline": o.timeline, "check": o.check, "got": o.got} for o in self.outcomes if not o.ok]}


def run(timelines: Sequence[Timeline] = TIMELINES, *, background: bool = True, embedder: str = "hash:64",
        llm: LLM | None = None) -> Report:
    """Every timeline in a fresh store, on the rule path, or through ``llm`` when given."""
    report = Report()
    with tempfile.TemporaryDirectory(prefix="engram-timelines-") as tmp:
        for i, timeline in enumerate(timelines):
            with Memory(Path(tmp) / f"t{i}.db", embedder=embedder, background=background, facts=True,
                        llm=llm or False) as mem:
                report.outcomes += _run_one(mem, timeline)
    return report


def _run_one(mem: Memory, timeline: Timeline) -> list[Outcome]:
    written: list[datetime] = []
    for step in timeline.steps:
        expires = utcnow() + timedelta(seconds=step.ttl) if step.ttl is not None else None
        mem.add([{"role": "user", "content": step.text, "timestamp": step.when}], user_id="u", session_id=step.when,
                expires_at=expires)
        mem.flush()
        written.append(utcnow())
    if any(s.ttl is not None for s in timeline.steps):
        time.sleep(max(s.ttl or 0.0 for s in timeline.steps) + 0.1)
    return [_check(mem, timeline.name, check, written) for check in timeline.checks]


def _check(mem: Memory, name: str, check: tuple[Any, ...], written: list[datetime]) -> Outcome:
    kind = check[0]
    label = " ".join(str(c) for c in check)
    if kind == "gone":
        texts = [r.content for r in mem.list(user_id="u", limit=1000)]
        texts += [h.record.content for h in mem.search(check[1], user_id="u").hits]
        return Outcome(name, label, not any(check[1] in t for t in texts), texts)
    if kind == "history":
        slot = _slot(mem.profile("u"), check[1])
        held = len(slot.history) if slot else 0
        return Outcome(name, label, held == check[2], held)
    if kind == "sources":
        current = mem.facts(user_id="u", attribute=check[1])
        sources = [len(f.provenance) for f in current]
        return Outcome(name, label, sources == [check[2]], sources)
    if kind == "asof":
        facts = mem.facts(user_id="u", attribute=check[2], as_of=written[check[1]])
        known = sorted(str(f.metadata.get("value")) for f in facts)
        return Outcome(name, label, known == sorted(check[3]), known)
    profile = mem.profile("u", valid_at=check[1] if kind == "at" else None)
    attribute, want = (check[2], check[3]) if kind == "at" else (check[1], check[2])
    slot = _slot(profile, attribute)
    values = sorted(v.value for v in slot.current) if slot else []
    return Outcome(name, label, values == sorted(want), values)


def _slot(profile: Any, attribute: str) -> Any:
    return next((s for s in profile.slots if s.attribute == attribute), None)
