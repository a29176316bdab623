"""engramdb: long-term memory for LLM agents, embedded first."""

from engramdb.core.errors import (
    ConfigError,
    ConflictError,
    EmbedderError,
    EngramError,
    ImportFormatError,
    NotFoundError,
    ScopeError,
    StoreError,
    ValidationError,
)
from engramdb.core.models import HistoryEvent, Hit, Kind, MemoryRecord, Scope, SearchResult
from engramdb.engine.aio import AsyncMemory
from engramdb.engine.memory import Memory

__version__ = "0.1.0"

__all__ = [
    "AsyncMemory",
    "ConfigError",
    "ConflictError",
    "EmbedderError",
    "EngramError",
    "HistoryEvent",
    "Hit",
    "ImportFormatError",
    "Kind",
    "Memory",
    "MemoryRecord",
    "NotFoundError",
    "Scope",
    "ScopeError",
    "SearchResult",
    "StoreError",
    "ValidationError",
    "__version__",
]
