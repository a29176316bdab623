"""Embeddings from any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp, LM Studio)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from engramdb.core.errors import ConfigError, EmbedderError
from engramdb.core.ports import Matrix, Vector


class OpenAIEmbedderOptions(BaseModel):
    """Options of the OpenAI-compatible embedder. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = "https://api.openai.com/v1"
    model: str = "text-embedding-3-small"
    api_key: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=128, ge=1, le=2048)
    # instructions some models need (nomic: "search_query: " / "search_document: ")
    query_prefix: str = ""
    document_prefix: str = ""

    @classmethod
    def from_env(cls, model: str | None = None) -> OpenAIEmbedderOptions:
        values: dict[str, object] = {}
        if base := os.environ.get("ENGRAM_EMBEDDER_BASE_URL"):
            values["base_url"] = base
        if key := os.environ.get("ENGRAM_EMBEDDER_API_KEY") or os.environ.get("OPENAI_API_KEY"):
            values["api_key"] = key
        if model:
            values["model"] = model
        for key in ("query_prefix", "document_prefix"):
            if (value := os.environ.get(f"ENGRAM_EMBEDDER_{key.upper()}")) is not None:
                values[key] = value
        try:
            return cls.model_validate(values)
        except PydanticError as exc:
            raise ConfigError(f"invalid OpenAI embedder options: {exc}") from None


class OpenAIEmbedder:
    """Calls ``POST {base_url}/embeddings``; vectors are L2-normalised here."""

    def __init__(self, options: OpenAIEmbedderOptions) -> None:
        self.options = options
        self._dim: int | None = None

    @property
    def model_id(self) -> str:
        prefixes = (self.options.query_prefix, self.options.document_prefix)
        suffix = f"|q={prefixes[0]!r}|d={prefixes[1]!r}" if any(prefixes) else ""
        return f"openai:{self.options.model}{suffix}"  # other prefixes, other vectors

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed_documents(["dimension probe"]).shape[1])
        return self._dim

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        return self._embed([self.options.document_prefix + t for t in texts])

    def embed_query(self, text: str) -> Vector:
        row: Vector = self._embed([self.options.query_prefix + text])[0]
        return row

    def _embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        parts = [self._request(list(texts[i:i + self.options.batch_size]))
                 for i in range(0, len(texts), self.options.batch_size)]
        # the first answer fixes the dimension: an endpoint that later answers another width
        # (a model swapped behind it, a broken proxy) must not get those vectors stored
        dim = self._dim if self._dim is not None else int(parts[0].shape[1])
        if any(p.shape[1] != dim for p in parts):
            widths = sorted({int(p.shape[1]) for p in parts})
            raise EmbedderError(f"embeddings endpoint {self.options.base_url} changed the dimension of its "
                                f"vectors: {widths} after {dim}")
        out = np.vstack(parts).astype(np.float32)
        self._dim = dim
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        result: Matrix = out / norms
        return result

    def _request(self, batch: list[str]) -> Matrix:
        body = json.dumps({"model": self.options.model, "input": batch}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.options.api_key:
            headers["Authorization"] = f"Bearer {self.options.api_key}"
        url = self.options.base_url.rstrip("/") + "/embeddings"
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.options.timeout_s) as resp:
                payload = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise EmbedderError(f"embeddings endpoint {url} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise EmbedderError(f"embeddings endpoint {url} unreachable: {exc}") from None
        except json.JSONDecodeError as exc:
            raise EmbedderError(f"embeddings endpoint {url} sent invalid JSON: {exc}") from None
        try:
            rows = sorted(payload["data"], key=lambda d: d["index"])
            matrix = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbedderError(f"unexpected embeddings response from {url}: {exc}") from None
        if matrix.ndim != 2 or matrix.shape[0] != len(batch):
            raise EmbedderError(f"{url} returned {matrix.shape[0]} vectors for {len(batch)} inputs")
        return matrix
