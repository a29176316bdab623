"""`engram bench locomo|longmemeval` argument handling (fails before any work is done)."""

from __future__ import annotations

from pathlib import Path

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


def test_missing_data_file(tmp_path: Path) -> None:
    code, out = invoke("longmemeval", str(tmp_path / "nope.json"))
    assert code == 2 and "does not exist" in out


def test_help_lists_the_flags() -> None:
    code, out = invoke("locomo", "--help")
    assert code == 0
    for flag in ("--limit", "--methods", "--out", "--seed", "--embedder", "--no-cache", "--answer-with",
                 "--answer-model", "--runs"):
        assert flag in out
