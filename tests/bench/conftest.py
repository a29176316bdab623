"""The shared benchmark data lives next to the repository, never inside it."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
LOCOMO = SHARED / "locomo" / "locomo_dev.json"
LONGMEMEVAL = SHARED / "longmemeval" / "longmemeval_s_sample.json.gz"


def need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"benchmark data not found at {path} (the shared data folder sits next to the repo)")
    return path


@pytest.fixture
def locomo_path() -> Path:
    return need(LOCOMO)


@pytest.fixture
def longmemeval_path() -> Path:
    return need(LONGMEMEVAL)
