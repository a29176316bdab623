"""The benchmarks end to end on real data with the hash embedder: files, sanity bounds, determinism."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from click.testing import CliRunner

from engramdb.bench.answer import AnswerSetup
from engramdb.bench.locomo import run_locomo
from engramdb.bench.metrics import BUDGETS
from engramdb.bench.runner import RunConfig
from engramdb.cli.main import cli
from engramdb.core.ports import ChatMessage
from engramdb.formats.base import load_json
from engramdb.llms.scripted import ScriptedLLM

METHODS = ("bm25", "dense", "hybrid", "engramdb", "random")
PNG = b"\x89PNG\r\n\x1a\n"


def _judge(messages: Sequence[ChatMessage]) -> str:
    gold = re.search(r"^Gold answer: (.*)$", messages[-1]["content"], re.MULTILINE)
    assert gold is not None
    return '{"label": "CORRECT"}' if len(gold.group(1)) < 20 else '{"label": "WRONG"}'


def test_locomo_one_conversation(locomo_path: Path, tmp_path: Path) -> None:
    config = RunConfig(methods=METHODS, budgets=BUDGETS, limit=1, embedder="hash", cache=tmp_path / "cache.sqlite",
                       out_dir=tmp_path / "out", answer_budget=500, show_progress=False)
    reader = ScriptedLLM(responder=lambda m: "a short answer")
    setup = AnswerSetup(reader, ScriptedLLM(responder=_judge), runs=2, budget=500, methods=("engramdb", "bm25"))
    result = run_locomo(locomo_path, config, setup)

    out = tmp_path / "out"
    saved = json.loads((out / "locomo.json").read_text())
    assert (out / "locomo_recall_vs_budget.png").read_bytes()[:8] == PNG
    assert len((out / "locomo_questions.jsonl").read_text().splitlines()) == 199
    summary = (out / "locomo.md").read_text()
    assert "| recall ≤1000 tok |" in summary and "| 5 adversarial | 47/47 |" in summary
    assert saved["config"]["embedder"] == "hash-256" and saved["config"]["machine"]["cpus"]
    assert saved["config"]["methods"] == list(METHODS)

    overall = saved["groups"]["overall"]
    assert overall["questions"] == 152 and overall["scored"] == 150 and overall["no_evidence"] == 2
    assert saved["groups"]["cat5"]["label"] == "5 adversarial"
    m = overall["methods"]
    assert m["random"]["recall@10"] < 0.5 * m["bm25"]["recall@10"]  # the control is far below BM25
    for name in METHODS:
        for b in BUDGETS:
            assert 0 < m[name][f"context_tokens@{b}"] <= b
        assert m[name]["recall@1"] <= m[name]["recall@10"] <= m[name]["recall@20"] <= 1
        assert m[name]["budget_all@4000"] <= m[name]["budget_recall@4000"]
    assert overall["ratio"]["recall@10"] is not None
    assert set(saved["latency"]) == {"query_embedding", *METHODS}

    # answers: judged against each question's own gold, two runs, scripted so both agree
    golds = [str(q.get("answer")) for q in load_json(locomo_path)[0]["qa"] if q["category"] in (1, 2, 3, 4)]
    expected = sum(len(g) < 20 for g in golds) / len(golds)
    acc = result["answers"]["methods"]["engramdb"]["accuracy"]
    assert acc["overall"]["n"] == 152 and acc["overall"]["per_run"] == [round(expected, 4)] * 2
    assert acc["overall"]["accuracy_std"] == 0.0
    assert set(acc) == {"overall", "cat1", "cat2", "cat3", "cat4"}
    assert len(reader.calls) == 2 * 2 * 152
    first_prompt = reader.calls[0][-1]["content"]
    assert "Question: " in first_prompt and "Gold" not in first_prompt


def test_longmemeval_three_questions_cli_deterministic(longmemeval_path: Path, tmp_path: Path) -> None:
    outs = []
    for run in ("a", "b"):
        args = ["bench", "longmemeval", str(longmemeval_path), "--limit", "3", "--embedder", "hash",
                "--cache", str(tmp_path / "cache.sqlite"), "--out", str(tmp_path / run)]
        res = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert "session any@5" in res.output
        outs.append(json.loads((tmp_path / run / "longmemeval.json").read_text()))
        assert (tmp_path / run / "longmemeval_recall_vs_budget.png").read_bytes()[:8] == PNG
    first, second = outs
    assert first["groups"] == second["groups"]  # deterministic
    assert first["config"]["embedding_cache"]["misses"] > 0
    assert second["config"]["embedding_cache"]["misses"] == 0  # every vector came from the disk cache
    overall = first["groups"]["overall"]
    assert overall["questions"] == 3 and overall["session_scored"] == 3
    m = overall["methods"]
    assert m["random"]["recall@10"] <= m["bm25"]["recall@10"]
    assert 0 <= m["engramdb"]["session_all@10"] <= m["engramdb"]["session_any@10"] <= 1
    assert len(first["data"]["question_dates"]) == 3  # recorded, never used to filter
