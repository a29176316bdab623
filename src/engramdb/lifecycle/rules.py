"""Facts without an LLM: a narrow set of first-person statements, read precisely.

Each pattern names a slot (an attribute of the speaker) and captures its value; the set is
kept small on purpose (precision over recall: a wrong "fact" about a user is worse than a
missing one; the raw turn is always kept and searchable). Single-valued slots (home city,
employer, ...) supersede each other by event time; multi-valued ones (a pet's name, a goal)
only merge exact repeats."""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME = r"(?:the\s+)?([A-Z][\w'&.-]*(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w'&.-]*){0,3})"
PERSON = r"([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"
NAMED = r"(?:'s\s+name\s+is|,|\s+is\s+called|\s+named)\s+"
_NOT_NAMES = {"I", "The", "A", "An", "My", "It", "This", "That", "There", "Here", "Monday", "Tuesday", "Wednesday",
               "Thursday", "Friday", "Saturday", "Sunday", "January", "February", "March", "April", "May", "June",
               "July", "August", "September", "October", "November", "December", "Christmas", "Easter"}
OCCUPATIONS = ("engineer", "teacher", "nurse", "doctor", "developer", "programmer", "designer", "writer", "student",
               "lawyer", "manager", "artist", "scientist", "researcher", "chef", "accountant", "counselor",
               "therapist", "photographer", "musician", "architect", "pharmacist", "dentist", "journalist",
               "consultant", "analyst", "firefighter", "pilot", "mechanic", "electrician", "plumber", "librarian",
               "professor", "paramedic", "veterinarian", "baker", "barista", "entrepreneur")
_OCC = "|".join(OCCUPATIONS)


@dataclass(frozen=True, slots=True)
class Rule:
    attribute: str
    pattern: re.Pattern[str]
    template: str  # "{s}" the subject, "{v}" the value
    single: bool = True  # one value at a time: a new one supersedes the old
    value: str | None = None  # a fixed value (the pattern captures nothing)


def _r(text: str) -> re.Pattern[str]:
    return re.compile(text)


RULES: tuple[Rule, ...] = (
    Rule("home city", _r(r"\bI(?:'m| am)?\s+(?:now\s+|currently\s+|still\s+)?(?:live|living)\s+in\s+" + NAME),
         "{s} lives in {v}"),
    Rule("home city", _r(r"\bI(?:'ve| have)?\s+(?:just\s+|recently\s+|finally\s+)?moved\s+to\s+" + NAME),
         "{s} lives in {v}"),
    Rule("employer", _r(r"\bI\s+(?:now\s+|currently\s+|still\s+)?work\s+(?:at|for)\s+" + NAME), "{s} works at {v}"),
    Rule("employer", _r(r"\bI(?:'ve| have)?\s+(?:just\s+)?(?:joined|started\s+(?:a\s+new\s+job\s+)?at|"
                        r"got\s+a\s+(?:new\s+)?job\s+at|started\s+working\s+(?:at|for))\s+" + NAME),
         "{s} works at {v}"),
    Rule("occupation", _r(rf"\bI(?:'m| am)\s+(?:now\s+)?an?\s+((?:[a-z]+\s+)?(?:{_OCC}))\b"), "{s} is {a} {v}"),
    Rule("occupation", _r(rf"\bI\s+work\s+as\s+an?\s+((?:[a-z]+\s+)?(?:{_OCC}))\b"), "{s} is {a} {v}"),
    Rule("name", _r(r"\b[Mm]y\s+name\s+is\s+" + PERSON + r"\b"), "{s}'s name is {v}"),
    Rule("diet", _r(r"\bI(?:'m| am)\s+(?:now\s+|a\s+)?(vegetarian|vegan|pescatarian)\b"), "{s} is {v}"),
    Rule("diet", _r(r"\bI\s+(?:stopped|quit)\s+eating\s+meat\b"), "{s} is {v}", value="vegetarian"),
    Rule("partner", _r(r"\b[Mm]y\s+(?:wife|husband|partner|girlfriend|boyfriend|fianc[eé]e?)" + NAMED + PERSON
                       + r"\b"), "{s}'s partner is {v}"),
    Rule("pet", _r(r"\b[Mm]y\s+(?:dog|cat|puppy|kitten)" + NAMED + PERSON + r"\b"), "{s} has a pet named {v}",
         single=False),
    Rule("goal", _r(r"\b[Mm]y\s+(?:main\s+|big\s+)?goal\s+is\s+to\s+([a-z][^.!?;]{3,80})"), "{s}'s goal is to {v}",
         single=False),
)


@dataclass(frozen=True, slots=True)
class Found:
    attribute: str
    value: str
    statement: str
    single: bool


MAX_CHARS = 1200  # longer turns are mostly pasted documents, stories and transcripts: not the user


def extract(text: str, subject: str) -> list[Found]:
    """The slots a first-person text states, each once (the first statement of a slot wins).
    A turn longer than MAX_CHARS states none: a hand-labelled sample of LongMemEval user turns
    showed the rules' wrong facts came from pasted texts (a story, a transcript, an essay)."""
    found: dict[tuple[str, str], Found] = {}
    if len(text) > MAX_CHARS:
        return []
    for rule in RULES:
        for match in rule.pattern.finditer(text):
            if _negated(text[max(0, match.start() - 25):match.start(1) if match.groups() else match.end()]):
                continue
            value = rule.value or _clean(match.group(1))
            if not value or value in _NOT_NAMES or value.split()[0] in _NOT_NAMES - {"The"}:
                continue
            key = (rule.attribute, value.casefold()) if not rule.single else (rule.attribute, "")
            if key not in found:
                article = "an" if value[:1].casefold() in "aeiou" else "a"
                statement = rule.template.format(s=subject, v=value, a=article)
                found[key] = Found(rule.attribute, value, statement, rule.single)
    return list(found.values())


def same_value(a: str, b: str) -> bool:
    return _norm(a) == _norm(b)


def _norm(value: str) -> str:
    return re.sub(r"^(?:the|a|an)\s+", "", value.casefold()).strip(" .")


_THIRD_PERSON = {"my": "their", "me": "them", "i": "they", "myself": "themselves", "mine": "theirs", "i'm": "they're"}


def _third_person(value: str) -> str:
    """A first-person value told about its speaker: 'improve my shooting' -> 'improve their shooting'."""
    return re.sub(r"\b(?:[Mm]y|[Mm]e|I|[Mm]yself|[Mm]ine|I'm)\b", lambda m: _THIRD_PERSON[m.group(0).casefold()], value)


def _clean(value: str) -> str:
    value = re.split(r"\s+(?:and|but|since|because|now|with|for|last|this|next)\b", value)[0]
    return _third_person(value.strip(" ,.;:!?'\""))


def _negated(lead: str) -> bool:
    """'I don't live in Paris', 'I no longer work at X', 'I used to live in Y' state no current slot:
    a negation in the words before the value (not after it: 'I live in Rome, not Milan' holds)."""
    clause = re.split(r"[.!?;]", lead)[-1]  # the clause of the statement only
    return bool(re.search(r"\b(?:don't|do not|didn't|no longer|never|used to|not|if|assume|assuming|pretend|"
                          r"imagine|suppose|let's say|as if)\b", clause.casefold()))
