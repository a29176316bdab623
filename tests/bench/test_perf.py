"""engram bench perf runs end to end (hash embedder, tiny sizes) and writes its JSON: the structure
and sanity of its numbers, never timing thresholds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engramdb.bench.perf import summarize
from engramdb.cli.main import cli

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LOCOMO = DATA / "locomo" / "locomo_dev.json"
LME = DATA / "longmemeval" / "longmemeval_s_sample.json.gz"


def _percentiles(p: dict[str, Any], n: int) -> None:
    assert p["n"] == n
    assert 0 < p["p50_ms"] <= p["p95_ms"]


@pytest.mark.skipif(not (LOCOMO.is_file() and LME.is_file()), reason="../shared/data is absent")
def test_perf_smoke(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "perf", str(LOCOMO), "--embedder", "hash", "--sizes", "3000",
                                      "--adds", "5", "--queries", "5", "--repeats", "1", "--lme", str(LME),
                                      "--lme-questions", "1", "--out", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "perf.json").read_text())
    rounds, summary = data["rounds"], data["summary"]
    assert data["repeats"] == 1 and data["embedder"].startswith("hash")
    for mode in ("add_background", "add_inline"):
        assert len(rounds[mode]) == 1
        for run in rounds[mode]:
            _percentiles(run, 5)
            assert run["flush_s"] >= 0 and 0 <= run["cpu_p50_ms"] <= run["cpu_p95_ms"]
        assert summary[mode]["p50_ms"]["min"] <= summary[mode]["p50_ms"]["median"] <= summary[mode]["p50_ms"]["max"]
    for run in rounds["import_locomo"]:
        assert run["turns"] == 2760 and run["sessions"] == 128
        assert run["vectors"] > run["turns"]  # whole text plus sentence keys
        assert 0 < run["acknowledged_s"] <= run["searchable_s"]
        assert run["acknowledged_turns_per_s"] >= run["embed_turns_per_s"] > 0
    for name in ("model_only_locomo", "model_only_longmemeval"):
        alone = rounds[name][0]
        assert alone["turns"] > 0 and alone["vectors"] > alone["turns"] and alone["turns_per_s"] > 0
    lme = rounds["import_longmemeval"][0]
    assert lme["turns"] > 0 and lme["vectors"] > lme["turns"]
    for run in rounds["catch_up_shared"]:
        assert run["scope"] == "conv-43"
        assert run["idle"]["n"] == min(run["during"]["n"], 2 * run["questions"])  # the same queries, timed again
        if run["during"]["n"]:
            _percentiles(run["during"], run["during"]["n"])
    _percentiles(data["search"]["3000"], 5)
    assert data["load_before"]["load_1m"] >= 0 and data["load_after"]["load_1m"] >= 0


def test_summarize_spreads_numbers() -> None:
    runs = [{"a": 3, "b": {"c": 1.0}, "s": "x"}, {"a": 1, "b": {"c": 2.0}, "s": "x"}, {"a": 2, "b": {"c": 3.0}}]
    assert summarize(runs) == {"a": {"min": 1, "median": 2, "max": 3}, "b": {"c": {"min": 1, "median": 2, "max": 3}}}
