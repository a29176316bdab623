"""`engram bench locomo|longmemeval` argument handling (fails before any work is done)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from engramdb.cli.main import cli


def invoke(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["bench", *args])
    return res.exit_code, res.output


def test_unknown_method(locomo_path: Path) -> None:
    code, out = invoke("locomo", str(locomo_path), "--methods", "bm25,magic", "--embedder", "hash")
    assert code == 2 and "unknown methods ['magic']" in out


def test_answer_flags_go_together(locomo_path: Path) -> None:
    code, out = invoke("locomo", str(locomo_path), "--answer-model", "gpt-4o-mini")
    assert code == 2 and "--answer-with" in out
    code, out = invoke("locomo", str(locomo_path), "--answer-with", "http://127.0.0.1:9/v1")
    assert code == 2 and "--answer-model" in out
    code, out = invoke("locomo", str(locomo_path), "--answer-with", "http://127.0.0.1:9/v1", "--answer-model", "m",
                       "--methods", "bm25", "--answer-methods", "engramdb")
    assert code == 2 and "not among --methods" in out


def test_missing_data_file(tmp_path: Path) -> None:
    code, out = invoke("longmemeval", str(tmp_path / "nope.json"))
    assert code == 2 and "does not exist" in out


def test_longmemeval_data_choice(tmp_path: Path) -> None:
    data = tmp_path / "lme.json"
    data.write_text("[]", encoding="utf-8")
    code, out = invoke("longmemeval", str(data), "--sample")
    assert code == 2 and "give either PATH or --sample" in out
    code, out = invoke("longmemeval", str(data), "--shared-store", "--max-minutes", "5")
    assert code == 2 and "--max-minutes works with one store per question only" in out
    code, out = invoke("longmemeval", "--help")
    assert code == 0 and "longmemeval_s_dev.json.gz" in out and "--shared-store" in out


def test_help_lists_the_flags() -> None:
    code, out = invoke("locomo", "--help")
    assert code == 0
    for flag in ("--limit", "--methods", "--out", "--seed", "--embedder", "--no-cache", "--answer-with",
                 "--answer-model", "--runs"):
        assert flag in out


def test_answer_mode_through_an_openai_compatible_endpoint(locomo_path: Path, server: tuple[Any, str],
                                                           tmp_path: Path) -> None:
    state, url = server

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        judging = request.get("response_format") == {"type": "json_object"}
        text = '{"label": "CORRECT"}' if judging else "Paris"
        return {"choices": [{"message": {"content": text}}]}

    state.respond = respond
    res = CliRunner().invoke(cli, [
        "bench", "locomo", str(locomo_path), "--limit", "1", "--methods", "bm25,engramdb", "--embedder", "hash",
        "--no-cache", "--out", str(tmp_path), "--answer-with", url, "--answer-model", "reader-x",
        "--judge-model", "judge-y", "--runs", "2", "--answer-budget", "250"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    answers = json.loads((tmp_path / "locomo.json").read_text())["answers"]
    assert answers["reader"] == "openai:reader-x" and answers["judge"] == "openai:judge-y"
    ours = answers["methods"]["engramdb"]
    assert ours["accuracy"]["overall"] == {"n": 152, "accuracy_mean": 1.0, "accuracy_std": 0.0,
                                           "per_run": [1.0, 1.0]}
    assert 0 < ours["context_tokens_mean"] <= 250
    assert {r["model"] for r in state.requests} == {"reader-x", "judge-y"}
    assert len(state.requests) == 2 * 2 * 152
    assert "answer accuracy" in res.output


def test_param_overrides_reach_the_search_and_the_json(longmemeval_path: Path, tmp_path: Path) -> None:
    code, out = invoke("longmemeval", str(longmemeval_path), "--param", "update_weights=0")
    assert code == 2 and "update_weight" in out  # the message lists the real names
    code, out = invoke("longmemeval", str(longmemeval_path), "--param", "update_weight=high")
    assert code == 2 and "takes a float" in out
    runs = {}
    for name, extra in (("before", ["--param", "update_weight=0", "--param", "time_candidates=0"]), ("after", [])):
        code, out = invoke("longmemeval", str(longmemeval_path), "--limit", "2", "--methods", "engramdb",
                           "--embedder", "hash", "--no-cache", "--out", str(tmp_path / name), *extra)
        assert code == 0, out
        runs[name] = json.loads((tmp_path / name / "longmemeval.json").read_text())["config"]
    assert runs["before"]["engramdb_param_overrides"] == {"update_weight": 0.0, "time_candidates": 0}
    assert runs["before"]["engramdb_search_params"]["update_weight"] == 0.0
    assert runs["after"]["engramdb_param_overrides"] == {}
    assert runs["after"]["engramdb_search_params"]["update_weight"] > 0


def test_db_runs_each_store_on_postgresql_with_the_same_results(longmemeval_path: Path, tmp_path: Path,
                                                               pg_url: str) -> None:
    import psycopg

    code, out = invoke("longmemeval", str(longmemeval_path), "--db", "sqlite:///x.db")
    assert code == 2 and "PostgreSQL server URL" in out
    runs = {}
    for name, extra in (("sqlite", []), ("postgresql", ["--db", pg_url])):
        code, out = invoke("longmemeval", str(longmemeval_path), "--limit", "2", "--methods", "bm25,engramdb",
                           "--embedder", "hash", "--no-cache", "--out", str(tmp_path / name), *extra)
        assert code == 0, out
        runs[name] = json.loads((tmp_path / name / "longmemeval.json").read_text())
        lines = (tmp_path / name / "longmemeval_questions.jsonl").read_text().splitlines()
        runs[name]["lines"] = [json.loads(line)["methods"] for line in lines]
    assert runs["sqlite"]["config"]["store"] == "sqlite" and runs["postgresql"]["config"]["store"] == "postgresql"
    assert runs["postgresql"]["groups"] == runs["sqlite"]["groups"]
    assert runs["postgresql"]["lines"] == runs["sqlite"]["lines"]  # every question's evidence ranks
    with psycopg.connect(pg_url) as db:  # each question's database was dropped after it
        left = db.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'engram_bench_%'").fetchone()
    assert left == (0,)
