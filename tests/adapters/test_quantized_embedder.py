"""The int8 re-quantisation of the packaged model: built once, close to the source, reused,
and a clean fallback to the source model whenever it cannot be had."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engramdb import ConfigError, EmbedderError
from engramdb.embedders import quantize
from engramdb.embedders.catalog import MINILM, MINILM_Q8C
from engramdb.embedders.local import LocalEmbedder, _locate

SENTENCES = ["I adopted a kitten from the shelter", "We shipped the robot arm to Porto on Monday.",
             "Caroline went to a support group meeting yesterday and said it was powerful.",
             "Ok!", "My sister moved to Berlin for a job at a solar startup, and she loves the city so far."]
SOURCE_ID = "local:all-MiniLM-L6-v2"
QUANTIZED_ID = "local:all-MiniLM-L6-v2-q8c"


@pytest.fixture(scope="module")
def source() -> LocalEmbedder:
    return LocalEmbedder.load("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def quantized(engram_cache_dir: Path) -> LocalEmbedder:
    return LocalEmbedder.load()  # the default, built into the session cache dir on first use


def test_default_is_the_quantized_model_in_the_cache_dir(quantized: LocalEmbedder, engram_cache_dir: Path) -> None:
    assert quantized.model_id == QUANTIZED_ID and quantized.dim == 384
    assert quantized.onnx_path == quantize.target_path(engram_cache_dir, MINILM.name, MINILM.sha256)
    report = json.loads(quantized.onnx_path.with_suffix(".json").read_text())
    assert report["source_sha256"] == MINILM.sha256 and report["folded_matmuls"] == 36
    assert report["cosine_mean"] >= 0.98 and report["cosine_min"] >= 0.93
    assert not [p for p in quantized.onnx_path.parent.iterdir() if p.name.endswith(".tmp")]


def test_quantized_vectors_are_close_to_the_source(source: LocalEmbedder, quantized: LocalEmbedder) -> None:
    a, b = source.embed_documents(SENTENCES), quantized.embed_documents(SENTENCES)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cos = np.sum(a * b, axis=1)
    assert cos.mean() >= 0.98 and cos.min() >= 0.93
    # activations are quantised per run, so a text's vector depends a little on its batch-mates
    single = np.stack([quantized.embed_query(t) for t in SENTENCES])
    assert np.sum(single * b, axis=1).min() >= 0.95


def test_second_load_reuses_the_cached_file(quantized: LocalEmbedder) -> None:
    before = quantized.onnx_path.stat()
    again = LocalEmbedder.load()
    after = again.onnx_path.stat()
    assert again.onnx_path == quantized.onnx_path
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_source_model_stays_available_under_its_own_id(source: LocalEmbedder) -> None:
    assert source.model_id == SOURCE_ID
    assert source.onnx_path == _locate(MINILM.package, MINILM.onnx)


def test_checksum_mismatch_falls_back_to_the_source(tmp_path: Path) -> None:
    wrong = dataclasses.replace(MINILM_Q8C, base=dataclasses.replace(MINILM, sha256="0" * 64))
    with pytest.warns(RuntimeWarning, match="sha256"):
        emb = LocalEmbedder.from_spec(wrong, cache_dir=tmp_path)
    assert emb.model_id == SOURCE_ID
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_unwritable_cache_falls_back_to_the_source(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.warns(RuntimeWarning, match="cannot write the model cache"):
        emb = LocalEmbedder.load(cache_dir=blocker / "cache")
    assert emb.model_id == SOURCE_ID


def test_rejected_build_leaves_a_note_and_is_not_retried(tmp_path: Path) -> None:
    source = _locate(MINILM.package, MINILM.onnx)
    target = quantize.target_path(tmp_path, MINILM.name, MINILM.sha256)
    calls = []

    def too_far(candidate: Path) -> dict[str, float]:
        calls.append(candidate)
        assert candidate.is_file() and candidate != target  # checked before it is renamed into place
        raise EmbedderError("too far from the source")

    with pytest.raises(EmbedderError, match="too far"):
        quantize.quantized_model(source, MINILM.sha256, target, too_far)
    assert not target.exists() and quantize.rejected_note(target).is_file()
    assert [p.name for p in target.parent.iterdir()] == [quantize.rejected_note(target).name]  # no temp left
    with pytest.raises(EmbedderError, match="rejected"):
        quantize.quantized_model(source, MINILM.sha256, target, too_far)
    assert len(calls) == 1


def test_damaged_cache_file_is_rebuilt(tmp_path: Path) -> None:
    target = quantize.target_path(tmp_path, MINILM.name, MINILM.sha256)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated")
    emb = LocalEmbedder.load(cache_dir=tmp_path)
    assert emb.model_id == QUANTIZED_ID and target.stat().st_size > 1_000_000


def test_missing_onnx_package_falls_back_to_the_source(tmp_path: Path) -> None:
    # a real interpreter in which ``import onnx`` fails, as in an install without it
    code = ("import sys; sys.modules['onnx'] = None\n"
            "from engramdb.embedders.local import LocalEmbedder\n"
            "e = LocalEmbedder.load(); print(e.model_id, e.embed_query('hello').shape)")
    env = {**os.environ, "ENGRAM_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [SOURCE_ID, "(384,)"]
    assert "without the onnx package" in proc.stderr and proc.stderr.count("RuntimeWarning") == 1


def test_threads_and_batch_size_options() -> None:
    emb = LocalEmbedder.load("all-MiniLM-L6-v2", threads=1, batch_size=4)
    assert (emb.threads, emb.batch_size) == (1, 4)
    assert emb.embed_documents(SENTENCES).shape == (5, 384)
    with pytest.raises(ConfigError):
        LocalEmbedder.load("all-MiniLM-L6-v2", threads=0)
    with pytest.raises(ConfigError):
        LocalEmbedder.load("all-MiniLM-L6-v2", batch_size=0)


@pytest.mark.slow
def test_two_processes_racing_to_build_both_get_a_whole_file(tmp_path: Path) -> None:
    code = ("from engramdb.embedders.local import LocalEmbedder\n"
            "e = LocalEmbedder.load(); print(e.model_id, e.embed_query('hello').shape)")
    env = {**os.environ, "ENGRAM_CACHE_DIR": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert all(out.split() == [QUANTIZED_ID, "(384,)"] and "Warning" not in err for out, err in outs)
    models = tmp_path / "models"
    assert sorted(p.suffix for p in models.iterdir()) == [".json", ".onnx"]  # no temp file left behind
    assert LocalEmbedder.load(cache_dir=tmp_path).model_id == QUANTIZED_ID
