"""The benchmark loaders on the real development data: queries carry no gold, gold is complete."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from engramdb.bench import locomo, longmemeval
from engramdb.bench.baselines import Query
from engramdb.formats.base import load_json


def test_locomo_loader(locomo_path: Path) -> None:
    loaded = locomo.load(locomo_path, None)
    assert loaded.info["conversations"] == 5 and loaded.info["turns"] == 2760
    assert len(loaded.queries) == len(loaded.golds) == 999  # no question dropped
    assert loaded.info["questions_by_category"] == {"1": 142, "2": 156, "3": 46, "4": 418, "5": 237}
    assert [f.name for f in dataclasses.fields(Query)] == ["qid", "text", "user_id", "now"]  # no gold
    # asked when the conversation is over: the latest session date of its conversation
    assert loaded.queries[0].now == "2023-10-22T09:55:00+00:00" == loaded.info["asked_at"]["conv-26"]
    ev = loaded.issues.as_dict()
    assert (ev["empty_lists"], ev["split"], ev["reformatted"], ev["missing"], ev["unparseable"]) == (2, 1, 1, 1, 1)
    assert ev["no_evidence"] == 2
    by_id = {g.qid: g for g in loaded.golds}
    assert set(by_id["conv-26/q37"].evidence) == {"D8:6", "D9:17"}
    assert "D11:26" in by_id["conv-43/q18"].evidence
    # hindsight annotations are never ingested; every batch is one session of one conversation
    texts = " ".join(m["content"] for b in loaded.batches for m in b.messages)
    sample = load_json(locomo_path)[0]
    summary = next(iter(sample["session_summary"].values()))
    assert summary not in texts
    assert all(m["metadata"]["dia_id"] and m["timestamp"] for b in loaded.batches for m in b.messages)
    assert {b.user_id for b in loaded.batches} == {s["sample_id"] for s in load_json(locomo_path)}


def test_locomo_limit_and_groups(locomo_path: Path) -> None:
    loaded = locomo.load(locomo_path, 1)
    assert loaded.info["conversations"] == 1 and len(loaded.golds) == 199
    groups = {g.key: g for g in locomo.groups(loaded.golds)}
    assert set(groups) == {"overall", "cat1", "cat2", "cat3", "cat4", "cat5"}
    assert len(groups["overall"].members) == 199 - len(groups["cat5"].members)


def test_longmemeval_loader(longmemeval_path: Path) -> None:
    questions, info = longmemeval.load(longmemeval_path, 3)
    golds = [q.gold for q in questions]
    assert len(questions) == 3 and info["questions"] == 3
    assert [q.query.user_id for q in questions] == [q.query.qid for q in questions] == ["q001", "q002", "q003"]
    assert [q.query.now for q in questions] == [g.question_date for g in golds]
    assert len({g.question_type for g in golds}) == 3  # interleaved: one question of each type in turn
    assert all(g.sessions and g.turns for g in golds)
    for q in questions:  # every evidence turn was ingested with its (session handle, turn) key
        assert {b.user_id for b in q.batches} == {q.query.user_id}
        keys = {q.gold.original(f"{b.session_id}#{m['metadata']['turn']}") for b in q.batches for m in b.messages}
        assert q.gold.turns <= keys
        assert all("has_answer" not in m for b in q.batches for m in b.messages)
        assert all(str(b.session_id).startswith("s") and "answer" not in str(b.session_id) for b in q.batches)
