"""The one exception tree of engramdb.

Every error a caller can see derives from :class:`EngramError`. Adapters
translate driver errors (sqlite3, HTTP, onnxruntime) at their boundary so
callers never have to catch a third-party exception type.
"""

from __future__ import annotations


class EngramError(Exception):
    """Base class of every engramdb error."""

    #: short machine-readable code, used by the CLI and the HTTP envelope
    code = "engram_error"


class ValidationError(EngramError, ValueError):
    """Input was rejected before anything was written."""

    code = "invalid_input"


class ScopeError(ValidationError):
    """A read or write named no scope (user_id, agent_id or session_id)."""

    code = "missing_scope"


class NotFoundError(EngramError, KeyError):
    """A memory id does not exist (or is outside the caller's scope)."""

    code = "not_found"

    def __str__(self) -> str:  # KeyError quotes its message; we do not
        return str(self.args[0]) if self.args else "not found"


class ConflictError(EngramError):
    """A write conflicts with what is stored (e.g. an import id clash)."""

    code = "conflict"


class ImportFormatError(ValidationError):
    """A file to import is malformed; the message names the file and line."""

    code = "bad_import_file"

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class StoreError(EngramError):
    """The storage backend failed (I/O, corruption, lock timeout)."""

    code = "store_error"


class EmbedderError(EngramError):
    """The embedding model could not be loaded or failed to run."""

    code = "embedder_error"


class ConfigError(EngramError):
    """Settings or an adapter's options are invalid."""

    code = "config_error"


class LLMError(EngramError):
    """The language model endpoint failed, refused, or answered something unusable."""

    code = "llm_error"


class AuthError(EngramError):
    """A request carried no API key, or one that is unknown or revoked (HTTP 401)."""

    code = "unauthorized"


class ForbiddenError(EngramError):
    """The caller's key does not grant this: another user or agent, or a write with a
    read-only key (HTTP 403). Nothing was read or written."""

    code = "forbidden"


class TooLargeError(ValidationError):
    """A request body or batch is over the server's limit (HTTP 413)."""

    code = "too_large"
