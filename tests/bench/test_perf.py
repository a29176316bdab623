"""engram bench perf runs end to end (hash embedder, tiny sizes) and writes its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engramdb.cli.main import cli

LOCOMO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "locomo" / "locomo_dev.json"


@pytest.mark.skipif(not LOCOMO.is_file(), reason="../shared/data is absent")
def test_perf_smoke(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "perf", str(LOCOMO), "--embedder", "hash", "--sizes", "3000",
                                      "--adds", "5", "--queries", "5", "--out", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "perf.json").read_text())
    assert data["bulk_import"]["turns"] == 2760 and data["bulk_import"]["turns_per_s"] > 0
    assert data["add_one_message"]["n"] == 5
    assert data["search"]["3000"]["n"] == 5 and data["search"]["3000"]["p95_ms"] >= data["search"]["3000"]["p50_ms"]
