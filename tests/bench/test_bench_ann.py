"""`engram bench ann` on a tiny embedding cache and question file (the hash embedder, usearch only)."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from engramdb.cli.main import cli
from engramdb.embedders.cache import _SCHEMA, text_key
from engramdb.embedders.hashing import HashEmbedder


def data(tmp_path: Path) -> tuple[Path, Path]:
    emb = HashEmbedder(64)
    rng = np.random.default_rng(0)
    words = ["dog", "park", "paris", "guitar", "coffee", "novel", "river", "chess", "piano", "garden"]
    texts = [" ".join(rng.choice(words, size=5)) + f" {i}" for i in range(400)]
    cache = tmp_path / "embeddings.sqlite"
    db = sqlite3.connect(cache)
    db.execute(_SCHEMA)
    db.executemany("INSERT INTO vectors VALUES (?,?,?,?)",
                   [(emb.model_id, text_key(t), emb.dim, v.astype(np.float32).tobytes())
                    for t, v in zip(texts, emb.embed_documents(texts), strict=True)])
    db.commit()
    db.close()
    locomo = tmp_path / "locomo.json"
    locomo.write_text(json.dumps([{"qa": [{"question": f"where did the dog go {i}"} for i in range(6)]}]))
    return cache, locomo


def invoke(cache: Path, locomo: Path, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["bench", "ann", "--embedder", "hash:64", "--cache", str(cache),
                                   "--locomo", str(locomo), *args])
    return res.exit_code, res.output


def test_ann_options_are_checked(tmp_path: Path) -> None:
    cache, locomo = data(tmp_path)
    code, out = invoke(cache, locomo, "--libraries", "usearch,annoy")
    assert code == 2 and "--libraries" in out
    code, out = invoke(cache, locomo, "--layouts", "ten:5")
    assert code == 2 and "--layouts" in out


@pytest.mark.skipif(importlib.util.find_spec("usearch") is None, reason="usearch is not installed")
def test_ann_library_comparison_runs(tmp_path: Path) -> None:
    cache, locomo = data(tmp_path)
    code, out = invoke(cache, locomo, "--sizes", "300", "--libraries", "usearch", "--queries", "6",
                       "--out", str(tmp_path / "out"))
    assert code == 0, out
    result = json.loads((tmp_path / "out" / "ann.json").read_text())
    (row,) = result["libraries"]
    # hash vectors of near-identical texts crowd together and the build is multi-threaded:
    # recall on this tiny set varies a little between machines (0.88 to 1.0 seen); the real
    # recall figures come from `engram bench ann` on real vectors
    assert row["vectors"] == 300 and 0.75 <= row["recall_at_10"] <= 1.0 and row["query"]["n"] == 6
