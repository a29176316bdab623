"""``engram bench facts-llm``: calls and tokens of the LLM fact stages on LoCoMo turns (a stub server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engramdb.bench.facts_llm import run_facts_llm
from engramdb.cli.main import cli

LOCOMO = Path("/work/shared/data/locomo/locomo_dev.json")
pytestmark = pytest.mark.skipif(not LOCOMO.is_file(), reason="LoCoMo dev split not available")


def test_counts_add_up() -> None:
    empty = run_facts_llm(LOCOMO, turns=40, stub="empty")
    assert empty["turns"] == 40 and empty["facts"] == 0 and empty["failed_jobs"] == 0
    assert empty["calls"] == empty["by_stage"]["extract_facts"]["calls"] == empty["sessions"]  # one call a session
    simple = run_facts_llm(LOCOMO, turns=40, stub="simple")
    by = simple["by_stage"]
    assert simple["facts"] > 0 and by["reconcile"]["calls"] <= simple["facts"]
    assert simple["calls"] == by["extract_facts"]["calls"] + by["reconcile"]["calls"]
    assert simple["prompt_tokens"] == sum(s["prompt_tokens"] for s in by.values()) > empty["prompt_tokens"]
    assert simple["usage"]["estimated"] == 0 and simple["usage"]["failures"] == 0


def test_the_command() -> None:
    out = CliRunner().invoke(cli, ["bench", "facts-llm", str(LOCOMO), "--turns", "10", "--stub", "empty", "--json"])
    assert out.exit_code == 0, out.output
    row = json.loads(out.output.splitlines()[0])
    assert row["turns"] == 10 and row["calls"] >= 1
