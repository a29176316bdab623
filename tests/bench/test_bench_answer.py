"""Answer grading and aggregation (LoCoMo J protocol) with the scripted LLM."""

from __future__ import annotations

import pytest

from engramdb.bench.answer import (
    NO_MEMORIES,
    AnswerSetup,
    AnswerTask,
    aggregate,
    answer,
    judge,
    parse_label,
    run_answers,
)
from engramdb.bench.runner import Answered
from engramdb.llms.scripted import ScriptedLLM


def test_parse_label() -> None:
    assert parse_label('{"label": "CORRECT"}') is True
    assert parse_label('{"label": "wrong"}') is False
    assert parse_label('Reasoning first. {"label": "CORRECT"} done') is True
    assert parse_label("The answer is WRONG.") is False
    assert parse_label("CORRECT") is True
    assert parse_label("CORRECT or WRONG?") is None
    assert parse_label("no idea") is None


def test_answer_and_judge_prompts() -> None:
    reader = ScriptedLLM(["7 May 2023"])
    got = answer(reader, "When did Caroline go to the support group?", "[2023-05-08 (Mon) 13:56] Caroline: ...")
    assert got.text == "7 May 2023"
    prompt = reader.calls[0][-1]["content"]
    assert "When did Caroline go" in prompt and "[2023-05-08 (Mon) 13:56] Caroline" in prompt
    answer(ScriptedLLM(["x"]), "q?", "   ")
    judge_llm = ScriptedLLM(['{"label": "CORRECT"}'])
    assert judge(judge_llm, "When?", "7 May 2023", "May 7th") is True
    judged = judge_llm.calls[0][0]["content"]
    assert "Gold answer: 7 May 2023" in judged and "Generated answer: May 7th" in judged
    empty = ScriptedLLM(["x"])
    answer(empty, "q?", "")
    assert NO_MEMORIES in empty.calls[0][-1]["content"]


def test_aggregate_mean_and_std() -> None:
    groups = {"a": "cat1", "b": "cat1", "c": "cat2", "d": "cat2"}
    runs = [{"a": True, "b": True, "c": False, "d": True}, {"a": True, "b": False, "c": False, "d": False}]
    acc = aggregate(runs, groups)["accuracy"]
    assert acc["overall"] == {"n": 4, "accuracy_mean": 0.5, "accuracy_std": pytest.approx(0.3536, abs=1e-4),
                              "per_run": [0.75, 0.25]}
    assert acc["cat1"]["per_run"] == [1.0, 0.5] and acc["cat1"]["accuracy_mean"] == 0.75
    assert acc["cat2"]["per_run"] == [0.5, 0.0] and acc["cat2"]["n"] == 2
    assert aggregate([{"a": True}], {"a": "cat1"})["accuracy"]["overall"]["accuracy_std"] == 0.0


def test_run_answers_uses_each_method_context() -> None:
    tasks = [AnswerTask("q1", "cat1", "Where?", "Paris"), AnswerTask("q2", "cat2", "When?", "May")]
    results = {
        "engramdb": [Answered([], {}, {500: 40}, 1.0, "Ann: I live in Paris"), Answered([], {}, {500: 0}, 1.0, "")],
        "bm25": [Answered([], {}, {500: 10}, 1.0, "nothing"), Answered([], {}, {500: 12}, 1.0, "in May")],
    }

    def reader(messages: list) -> str:  # type: ignore[type-arg]
        text = messages[-1]["content"]
        return "Paris" if "Paris" in text else ("May" if "in May" in text else "unknown")

    def grade(messages: list) -> str:  # type: ignore[type-arg]
        text = messages[0]["content"]
        gold = text.split("Gold answer: ")[1].split("\n")[0]
        generated = text.split("Generated answer: ")[1].split("\n")[0]
        return '{"label": "CORRECT"}' if gold == generated else ("garbled" if generated == "unknown" else "WRONG")

    setup = AnswerSetup(ScriptedLLM(responder=reader), ScriptedLLM(responder=grade), runs=3, budget=500,
                        methods=("engramdb", "bm25", "dense"))
    out = run_answers(setup, tasks, results, {"q1": 0, "q2": 1})
    assert set(out["methods"]) == {"engramdb", "bm25"}  # a method that did not run is left out
    ours, theirs = out["methods"]["engramdb"], out["methods"]["bm25"]
    assert ours["accuracy"]["overall"]["per_run"] == [0.5, 0.5, 0.5]
    assert ours["accuracy"]["cat1"]["accuracy_mean"] == 1.0 and ours["accuracy"]["cat2"]["accuracy_mean"] == 0.0
    assert ours["unlabeled_judgments"] == 3  # "garbled" counts as WRONG and is reported
    assert theirs["accuracy"]["overall"]["accuracy_mean"] == 0.5 and theirs["unlabeled_judgments"] == 3
    assert ours["context_tokens_mean"] == 20.0 and theirs["context_tokens_mean"] == 11.0
    assert out["runs"] == 3 and out["budget_tokens"] == 500
