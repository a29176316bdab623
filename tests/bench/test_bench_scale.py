"""engram bench scale end to end at a tiny size with the hash embedder: the JSON's shape, and
numbers that come from the run (sizes, counts, bytes on disk), not from constants."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from engramdb.bench.scale import default_setup, plan, run_scale
from engramdb.bench.scale_run import RunSpec
from engramdb.cli.main import cli
from engramdb.stores.ann_index import ENV_ANN_MIN


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    from tests.bench.conftest import LOCOMO, LONGMEMEVAL, need

    out = tmp_path_factory.mktemp("scale")
    setup = default_setup(need(LOCOMO), need(LONGMEMEVAL), embedder="hash:64", cache=None, pool_size=200,
                          lme_users=2, pg_url=None, work=out / "work")
    base = RunSpec("sqlite", "one", 1, queries=8, passes=2, recall_queries=5, ack_sample=30, adds=3)
    specs = plan(["sqlite"], ["one", "many", "lme"], [150, 300], 2, base)
    before = os.environ.get(ENV_ANN_MIN)
    os.environ[ENV_ANN_MIN] = "200"  # the one scope of 300 gets an ANN graph, the others stay exact
    try:
        return run_scale(setup, specs, out, isolate=False), out / "scale"
    finally:
        if before is None:
            os.environ.pop(ENV_ANN_MIN)
        else:
            os.environ[ENV_ANN_MIN] = before


def test_every_run_has_its_file_and_the_summary_its_rows(result: tuple[dict, Path]) -> None:
    summary, folder = result
    names = sorted(p.name for p in (folder / "runs").glob("*.json"))
    assert names == ["sqlite-lme-2.json", "sqlite-many-150.json", "sqlite-many-300.json", "sqlite-one-150.json",
                     "sqlite-one-300.json"]
    assert json.loads((folder / "scale.json").read_text())["rows"] == summary["rows"]
    assert (folder / "scale.png").stat().st_size > 0
    assert set(summary["slopes_p95"]) == {"sqlite / one", "sqlite / one, exact scan", "sqlite / many"}
    assert set(summary["slopes_cpu_p95"]) == {"sqlite / one", "sqlite / many"}
    recall = [t for t in summary["targets"] if t["target"].startswith("ANN recall@10")]
    biggest = summary["rows"][-1]  # rows sort by store, layout, size: sqlite, one, 300
    assert [(t["store"], t["size"], t["measured"]) for t in recall] == [("sqlite", 300, biggest["recall_at_10"])]


def test_counts_follow_the_sizes_and_layouts(result: tuple[dict, Path]) -> None:
    _, folder = result
    one = json.loads((folder / "runs" / "sqlite-one-300.json").read_text())
    many = json.loads((folder / "runs" / "sqlite-many-300.json").read_text())
    lme = json.loads((folder / "runs" / "sqlite-lme-2.json").read_text())
    assert (one["fill"]["memories"], one["fill"]["real_memories"], one["fill"]["synthetic_memories"]) == (300, 200, 100)
    assert (one["fill"]["users"], many["fill"]["users"], lme["fill"]["users"]) == (1, 3, 2)
    assert lme["fill"]["memories"] == sum(lme["corpus"]["longmemeval_turns_per_user"][:2])
    assert lme["fill"]["synthetic_memories"] == 0
    assert one["fill"]["vectors"] > one["fill"]["memories"]  # sentence keys came with the turns
    assert one["catch_up"]["memories"] == one["ack"]["add_many"]["memories"] + 3 == 33


def test_timings_bytes_and_recall_are_measured(result: tuple[dict, Path]) -> None:
    _, folder = result
    small = json.loads((folder / "runs" / "sqlite-one-150.json").read_text())
    big = json.loads((folder / "runs" / "sqlite-one-300.json").read_text())
    for run in (small, big):
        search = run["search"]
        assert search["dense_lists"] == run["recall"]["dense_list"] == ("ann" if run is big else "exact")
        assert [p["n"] for p in search["passes"]] == [8, 8]
        assert 0 < search["p50_ms"]["min"] <= search["p50_ms"]["median"]
        assert all(p["p95_ms"] >= p["p50_ms"] > 0 for p in search["passes"])
        assert search["query_embeddings_during_timing"] == 0
        assert run["disk"]["bytes_per_memory"] == round(run["disk"]["bytes"] / run["fill"]["memories"], 1)
        assert sum(run["disk"]["parts"].values()) <= run["disk"]["bytes"]
        assert run["rss_mb"]["peak"] >= run["rss_mb"]["start"] > 0
        assert run["fill"]["memories_per_s"] > 0 and run["catch_up"]["memories_per_s"] > 0
    assert small["recall"]["recall_at_k"] == big["recall_exact"]["recall_at_k"] == 1.0  # the exact scan: the truth
    assert 0 < big["recall"]["recall_at_k"] <= 1.0 and "search_exact" not in small
    assert big["index"]["ann"]["scopes_indexed"] == 1 and big["index"]["ann"]["build_s"] > 0
    assert big["disk"]["parts"]["ann_index"] > 0 and "ann_index" not in small["disk"]["parts"]
    assert big["search_exact"]["dense_lists"] == "exact" and len(big["search_exact"]["passes"]) == 2
    assert big["disk"]["bytes"] > small["disk"]["bytes"]
    assert big["disk"]["vector_bytes"] > small["disk"]["vector_bytes"]


def test_the_command_checks_its_options(tmp_path: Path) -> None:
    runner = CliRunner()
    locomo = tmp_path / "locomo.json"  # the options are checked without the shared data
    locomo.write_text("[]")
    data = ["--locomo", str(locomo)]
    bad = runner.invoke(cli, ["bench", "scale", *data, "--sizes", "ten"])
    assert bad.exit_code != 0 and "not a size" in bad.output
    bad = runner.invoke(cli, ["bench", "scale", *data, "--layouts", "round"])
    assert bad.exit_code != 0 and "--layouts" in bad.output
    bad = runner.invoke(cli, ["bench", "scale", *data, "--store", "postgresql"])
    assert bad.exit_code != 0 and "--pg-url" in bad.output
