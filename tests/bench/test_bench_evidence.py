"""Evidence-id repair for LoCoMo and gold extraction for LongMemEval."""

from __future__ import annotations

from engramdb.bench.evidence import (
    EvidenceIssues,
    longmemeval_gold,
    parse_entry,
    resolve_evidence,
    session_of,
    turn_key,
)

KNOWN = {"D1:1", "D1:2", "D8:6", "D9:17", "D11:26"}


def test_parse_entry_repairs_what_it_can() -> None:
    assert parse_entry("D1:2") == ["D1:2"]
    assert parse_entry("  D1:2 ") == ["D1:2"]
    assert parse_entry("D8:6; D9:17") == ["D8:6", "D9:17"]
    assert parse_entry("D:11:26") == ["D11:26"]
    assert parse_entry("d1 : 2") == ["D1:2"]
    assert parse_entry("D") == [] and parse_entry("") == [] and parse_entry(None) == [] and parse_entry(7) == []


def test_resolve_counts_every_quirk() -> None:
    issues = EvidenceIssues()
    assert resolve_evidence(["D1:1"], KNOWN, issues, "q0") == ("D1:1",)
    assert resolve_evidence(["D8:6; D9:17"], KNOWN, issues, "q1") == ("D8:6", "D9:17")
    assert resolve_evidence([" D1:2", "D:11:26"], KNOWN, issues, "q2") == ("D1:2", "D11:26")
    assert resolve_evidence(["D10:19", "D1:1"], KNOWN, issues, "q3") == ("D1:1",)
    assert resolve_evidence(["D", "D1:1", "D1:1"], KNOWN, issues, "q4") == ("D1:1",)
    assert resolve_evidence([], KNOWN, issues, "q5") == ()
    assert resolve_evidence(["D99:1"], KNOWN, issues, "q6") == ()
    assert resolve_evidence(None, KNOWN, issues, "q7") == ()
    got = issues.as_dict()
    assert {k: v for k, v in got.items() if k != "examples"} == {
        "questions": 8, "entries": 10, "empty_lists": 2, "split": 1, "reformatted": 2, "missing": 2,
        "unparseable": 1, "duplicates": 1, "no_evidence": 3}
    assert "q1: 'D8:6; D9:17' -> split into ['D8:6', 'D9:17']" in got["examples"]
    assert "q4: 'D' -> unparseable" in got["examples"]


def test_longmemeval_gold() -> None:
    item = {
        "answer_session_ids": ["s2"],
        "haystack_session_ids": ["s1", "s2"],
        "haystack_sessions": [
            [{"role": "user", "content": "hi"}],
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": "the answer", "has_answer": True},
             {"role": "user", "content": "  ", "has_answer": True}],
        ],
    }
    sessions, turns = longmemeval_gold(item)
    assert sessions == {"s2"}
    assert turns == {"s2#1"}  # an empty turn is never indexed, so it cannot be evidence
    assert turn_key("a#b", 3) == "a#b#3" and session_of("a#b#3") == "a#b"
