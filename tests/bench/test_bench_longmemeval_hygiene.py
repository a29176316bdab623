"""LongMemEval bench hygiene: opaque session handles, one store per question, the official gold.

Tiny synthetic haystacks shaped like LongMemEval_S (evidence sessions named ``answer_...``,
the others ``sharegpt_...``), the hash embedder: fast and deterministic.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from engramdb.bench import isolated
from engramdb.bench.evidence import longmemeval_gold
from engramdb.bench.longmemeval import load, retrieve, run_longmemeval
from engramdb.bench.longmemeval_data import interleaved
from engramdb.bench.runner import RunConfig
from engramdb.engine.memory import Memory

WORDS = (
    "whale", "boat", "harbour", "sunset", "bread", "oven", "flour", "yeast", "garden", "tomato",
    "seed", "rain", "guitar", "chord", "song", "train", "ticket", "city", "museum", "painting",
    "brush", "canvas", "dog", "walk", "park", "coffee", "bean", "grinder",
)


def config(tmp_path: Path, methods: tuple[str, ...] = ("bm25", "dense", "hybrid", "engramdb")) -> RunConfig:
    return RunConfig(methods=methods, budgets=(250, 1000), embedder="hash", cache=None,
                     out_dir=tmp_path / "out", show_progress=False)


def turn(rng: random.Random, role: str, extra: str = "") -> dict[str, Any]:
    return {"role": role, "content": " ".join(rng.choice(WORDS) for _ in range(9)) + extra}


def item(qid: str, qtype: str, seed: int, sessions: int = 8) -> dict[str, Any]:
    """A question whose evidence sits in two ``answer_`` sessions among ``sharegpt_`` ones; some
    sessions share a date (ties the pipeline must not break by session id)."""
    rng = random.Random(seed)
    ids, dates, haystack = [], [], []
    for s in range(sessions):
        evidence = s in (2, 5)
        ids.append(f"answer_{qid}_{s}" if evidence else f"sharegpt_{qid}X{s}")
        dates.append(f"2023/05/{1 + s // 2:02d} (Mon) 10:00")
        turns = [turn(rng, "user"), turn(rng, "assistant"), turn(rng, "user"), turn(rng, "assistant")]
        if evidence:
            turns[2] = {"role": "user", "content": f"My sister plays the cello in the city orchestra {s}.",
                        "has_answer": True}
        haystack.append(turns)
    question = "Which song did my sister play on the guitar in the city park?"
    return {"question_id": qid, "question_type": qtype, "question": question,
            "question_date": "2023/06/01 (Thu) 09:00", "answer": "the cello",
            "answer_session_ids": [i for i in ids if i.startswith("answer_")],
            "haystack_session_ids": ids, "haystack_dates": dates, "haystack_sessions": haystack}


def write(tmp_path: Path, items: list[dict[str, Any]], name: str = "lme.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


def test_results_identical_with_and_without_renaming(tmp_path: Path) -> None:
    path = write(tmp_path, [item("e47becba", "multi-session", 1), item("gpt4_2f8be40d", "temporal-reasoning", 2)])
    runs = []
    for opaque in (True, False):
        questions, _ = load(path, None, opaque=opaque)
        runs.append(retrieve(questions, config(tmp_path)))
    renamed, original = runs
    assert [g.qid for g in renamed.golds] == [g.qid for g in original.golds]
    for method in ("engramdb", "bm25", "dense", "hybrid"):
        for a, b in zip(renamed.out.results[method], original.out.results[method], strict=True):
            assert a.ranked == b.ranked and len(a.ranked) > 10
            assert {k: sorted(v) for k, v in a.packed.items()} == {k: sorted(v) for k, v in b.packed.items()}
    assert any(k.startswith("answer_") for k in renamed.out.results["engramdb"][0].ranked)  # mapped back


def test_no_original_id_reaches_the_store_or_the_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [item("e47becba", "multi-session", 1), item("gpt4_2f8be40d_abs", "temporal-reasoning", 2)]
    originals = [i["question_id"] for i in items] + [s for i in items for s in i["haystack_session_ids"]]
    stores: list[bytes] = []
    scopes: list[str | None] = []

    class Spy(Memory):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.spy_path = Path(kwargs["store"].path)  # each haystack's own SQLite file

        def search(self, query: str, **kwargs: Any) -> Any:
            scopes.append(kwargs.get("user_id"))
            return super().search(query, **kwargs)

        def close(self) -> None:
            super().close()
            stores.append(b"".join(p.read_bytes() for p in self.spy_path.parent.glob(f"{self.spy_path.name}*")))

    monkeypatch.setattr(isolated, "Memory", Spy)
    questions, _ = load(write(tmp_path, items), None)
    got = retrieve(questions, config(tmp_path))
    assert len(stores) == 2 and all(len(s) > 10_000 for s in stores)
    for raw in stores:
        assert raw.count(b"answer_") == 0
        assert not [o for o in originals if o.encode() in raw]
    assert scopes and set(scopes) == {"q001", "q002"}
    for q in questions:
        assert not [o for o in originals if o in repr(q.query) or o in repr(q.batches)]
    assert got.golds[0].sessions == {"answer_e47becba_2", "answer_e47becba_5"}  # the scorer maps back


def bm25_case() -> tuple[dict[str, Any], dict[str, Any]]:
    """Question A asks "red whale": in its own haystack "whale" is the rarer word, so the whale turn
    (the evidence) ranks first. Question B's haystack is full of whales: BM25 statistics shared
    across haystacks make "whale" common and push A's evidence down."""
    def session(text: str, evidence: bool = False) -> list[dict[str, Any]]:
        user: dict[str, Any] = {"role": "user", "content": text}
        if evidence:
            user["has_answer"] = True
        return [user, {"role": "assistant", "content": "Tell me more about it."}]

    a = {"question_id": "qa", "question_type": "single-session-user", "question": "red whale",
         "question_date": "2023/06/01 (Thu) 09:00", "answer": "x", "answer_session_ids": ["answer_a"],
         "haystack_session_ids": ["sharegpt_a1", "answer_a", "sharegpt_a2"],
         "haystack_dates": ["2023/05/01 (Mon) 10:00"] * 3,
         "haystack_sessions": [session("The red hat was on sale."), session("We saw a whale from the boat.", True),
                               session("My red scarf keeps me warm.")]}
    b_ids = [f"sharegpt_b{i}" for i in range(12)]
    b = {"question_id": "qb", "question_type": "multi-session", "question": "songs",
         "question_date": "2023/06/01 (Thu) 09:00", "answer": "x", "answer_session_ids": [b_ids[0]],
         "haystack_session_ids": b_ids, "haystack_dates": ["2023/05/01 (Mon) 10:00"] * 12,
         "haystack_sessions": [session(f"Whale songs carry far, whale number {i}.", i == 0) for i in range(12)]}
    return a, b


def evidence_rank(path: Path, tmp_path: Path, *, shared_store: bool = False) -> list[int]:
    run_longmemeval(path, config(tmp_path, ("bm25",)), **({"shared_store": True} if shared_store else {}))
    lines = (tmp_path / "out" / "longmemeval_questions.jsonl").read_text().splitlines()
    ranks: list[int] = next(json.loads(x) for x in lines if json.loads(x)["qid"] == "qa")["methods"]["bm25"][
        "turn_ranks"]
    return ranks


def test_bm25_statistics_come_from_the_question_haystack_only(tmp_path: Path) -> None:
    a, b = bm25_case()
    alone = evidence_rank(write(tmp_path, [a], "a.json"), tmp_path)
    together = evidence_rank(write(tmp_path, [a, b], "ab.json"), tmp_path)
    assert alone == together == [1]


def test_shared_store_flag_keeps_the_old_behaviour(tmp_path: Path) -> None:
    a, b = bm25_case()
    assert evidence_rank(write(tmp_path, [a, b]), tmp_path, shared_store=True) == [3]


def test_time_limit_reports_the_finished_questions(tmp_path: Path) -> None:
    path = write(tmp_path, [item("q1", "multi-session", 1, 3), item("q2", "knowledge-update", 2, 3)])
    result = run_longmemeval(path, config(tmp_path, ("bm25",)), time_limit_s=1e-9)
    assert result["data"]["completed"] == 1 and result["groups"]["overall"]["questions"] == 1
    assert result["data"]["stopped"] == "time limit: 1 of 2 questions run"
    assert "time limit" in (tmp_path / "out" / "longmemeval.md").read_text()


def test_answer_session_without_evidence_turn_is_not_gold() -> None:
    # LongMemEval's retrieval scorer renames such a session 'noans': recall_all does not need it
    got = item("q", "multi-session", 1)
    got["answer_session_ids"].append(got["haystack_session_ids"][0])
    sessions, turns = longmemeval_gold(got)
    assert sessions == {"answer_q_2", "answer_q_5"} and len(turns) == 2


def test_interleaved_order_keeps_the_mix_of_types() -> None:
    types = ["b"] * 3 + ["a"] * 2 + ["c"]
    order = interleaved([{"question_type": t} for t in types])
    assert [types[i] for i in order] == ["a", "b", "c", "a", "b", "b"]
    assert order == [3, 0, 5, 4, 1, 2]
