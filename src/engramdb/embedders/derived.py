"""Loading a quantised catalog model: build it once (embedders/quantize.py), check it, reuse it.

The check embeds the built-in reference texts (embedders/reference.py) with the
source model and with the freshly built one and accepts the build only when the
cosines are high enough; only an accepted build is renamed into the cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engramdb.core.errors import EmbedderError
from engramdb.embedders import quantize, reference

if TYPE_CHECKING:
    from engramdb.embedders.local import LocalEmbedder, ModelSpec


def load_quantized(cls: type[LocalEmbedder], spec: ModelSpec, base: ModelSpec, tokenizer: Path,
                   threads: int | None, batch_size: int, cache_dir: Path | None) -> LocalEmbedder:
    """The embedder of ``spec`` (the int8 re-quantisation of ``base``); raises EmbedderError when
    the quantised file cannot be built, is rejected, or cannot be loaded."""
    from engramdb.embedders.cache import cache_dir as default_cache_dir
    from engramdb.embedders.local import _locate

    if not base.sha256:
        raise EmbedderError(f"{base.name} pins no sha256, so nothing is derived from it")
    source = _locate(base.package, base.onnx)
    target = quantize.target_path(cache_dir or default_cache_dir(), base.name, base.sha256)

    def verify(candidate: Path) -> dict[str, float]:
        texts = list(reference.TEXTS)
        want = cls(base, source, tokenizer, threads).embed_documents(texts)
        got = cls(spec, candidate, tokenizer, threads).embed_documents(texts)
        report = reference.cosine_report(want, got)
        if report["cosine_mean"] < reference.MIN_MEAN_COSINE or report["cosine_min"] < reference.MIN_COSINE:
            raise EmbedderError(f"the quantised model is too far from {base.name} (cosine mean "
                                f"{report['cosine_mean']:.4f}, min {report['cosine_min']:.4f}; need "
                                f">= {reference.MIN_MEAN_COSINE} and >= {reference.MIN_COSINE})")
        return report

    path = quantize.quantized_model(source, base.sha256, target, verify)
    try:
        return cls(spec, path, tokenizer, threads, batch_size=batch_size)
    except EmbedderError:
        # a damaged cache file (the build itself is atomic): build it again, once
        path.unlink(missing_ok=True)
        path = quantize.quantized_model(source, base.sha256, target, verify)
        return cls(spec, path, tokenizer, threads, batch_size=batch_size)
