"""`engram bench embed` on a few real turns: numbers come out, and the JSON has every table."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from engramdb.cli.main import cli


def test_embed_bench_writes_json(locomo_path: Path, longmemeval_path: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["bench", "embed", "--locomo", str(locomo_path), "--longmemeval",
                                   str(longmemeval_path), "--limit", "6", "--repeats", "2", "--threads", "1",
                                   "--call-turns", "4", "--no-concurrency", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "embed.json").read_text())
    rows = out["throughput"]
    assert {(r["model"], r["workload"]) for r in rows} == {
        (m, w) for m in ("local:all-MiniLM-L6-v2", "local:all-MiniLM-L6-v2-q8c") for w in ("locomo", "longmemeval")}
    assert all(r["turns"] == 6 and r["texts"] >= 6 and len(r["seconds"]) == 2 for r in rows)
    assert all(r["texts_per_s"]["min"] <= r["texts_per_s"]["median"] <= r["texts_per_s"]["max"] for r in rows)
    assert {s["workload"] for s in out["speedup"]} == {"locomo", "longmemeval"}


def test_embed_bench_rejects_bad_lists(tmp_path: Path) -> None:
    data = tmp_path / "data.json"  # the option check comes before any data is read
    data.write_text("[]", encoding="utf-8")
    res = CliRunner().invoke(cli, ["bench", "embed", "--locomo", str(data), "--longmemeval", str(data),
                                   "--threads", "0"])
    assert res.exit_code == 2 and "positive integers" in res.output
