"""What the tools share: typed, described arguments (the JSON schemas the model sees) and the
translation of engramdb errors into tool errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from engramdb.core.errors import EngramError

MAX_K = 100
MAX_BUDGET = 32_000
MAX_LIST = 200

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)

KindName = Literal["note", "fact", "turn", "summary", "profile"]
MemoryId = Annotated[str, Field(min_length=1, max_length=200, description="A memory id, as returned by "
                                "remember, recall, search or list_memories.")]
Query = Annotated[str, Field(min_length=1, max_length=10_000, description="What to look for, in natural "
                             "language (the user's question or its topic).")]
Session = Annotated[str | None, Field(default=None, min_length=1, max_length=200,
                                      description="Only memories of this conversation session (default: all "
                                      "sessions).")]
Kinds = Annotated[list[KindName] | None, Field(default=None, max_length=5,
                                               description="Only memories of these kinds (default: all).")]
ValidAt = Annotated[str | None, Field(default=None, max_length=64,
                                      description="Event time (ISO 8601): only what had been said by then; it "
                                      "also anchors relative dates like 'last week' in the query.")]
Content = Annotated[str, Field(min_length=1, description="The text to remember: a fact, a preference, an event, "
                               "or a message of the conversation. Self-contained; name people.")]
Metadata = Annotated[dict[str, Any] | None, Field(default=None, description="A JSON object to file with it.")]
Timestamp = Annotated[str | None, Field(default=None, max_length=64,
                                        description="When it was said or happened (ISO 8601); default now.")]
Kind = Annotated[KindName | None, Field(default=None, description="What it is (default: note).")]
Name = Annotated[str | None, Field(default=None, max_length=200)]


@contextmanager
def tool_errors() -> Iterator[None]:
    """An engramdb error is the caller's to fix (bad input, unknown id, a read-only key): the
    model gets the message. Anything else is a bug, which the SDK logs and reports generically."""
    try:
        yield
    except EngramError as exc:
        raise ToolError(f"{exc.code}: {exc}") from exc
