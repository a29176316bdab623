"""engram bench serve runs end to end against real server processes (hash embedder, one
conversation, two clients, short phases) and writes its JSON: structure and sanity, no timing
thresholds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engramdb.bench.profile_stacks import summarise
from engramdb.cli.main import cli


@pytest.mark.slow
def test_serve_load_smoke(tmp_path: Path, locomo_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "serve", str(locomo_path), "--embedder", "hash:64", "--clients", "2",
                                      "--seconds", "1.5", "--conversations", "1", "--out", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "serve.json").read_text())
    assert data["scopes"]["conversations"] == 1 and data["clients"] == 2
    for topology in ("one", "two"):
        run = data["runs"][topology]
        assert run["seed_embedded_s"] >= run["seed_import_s"] > 0
        assert set(run["adds"]) >= {"add", "errors", "catch_up_s"} and "search" not in run["adds"]
        assert set(run["searches"]) >= {"search"} and "add" not in run["searches"]
        mix = run["mix 1:4"]
        assert mix["add"]["n"] >= 1 and mix["search"]["n"] >= mix["add"]["n"]
        for phase in ("adds", "searches", "mix 1:4"):
            assert run[phase]["errors"] == 0, run[phase]["error_samples"]


def test_profile_summary_counts_inclusive_samples_inside_search() -> None:
    from collections import Counter

    search = "search (engramdb/retrieval/search.py:10)"
    stacks = Counter({f"main (x.py:1);{search};bm25 (engramdb/stores/sqlite.py:5)": 3,
                      f"main (x.py:1);{search};embed (engramdb/embedders/local.py:9)": 1,
                      "main (x.py:1);idle (y.py:2)": 6})
    out = summarise(stacks, top=5)
    assert out["samples"] == 10 and out["search_samples"] == 4
    shares = {f["function"]: f["share_of_search"] for f in out["functions"]}
    assert shares["search (engramdb/retrieval/search.py)"] == 1.0
    assert shares["bm25 (engramdb/stores/sqlite.py)"] == 0.75
    assert shares["embed (engramdb/embedders/local.py)"] == 0.25
