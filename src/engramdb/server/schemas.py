"""Request bodies of the HTTP API. Unknown fields are refused (``extra="forbid"``); sizes are
bounded here so that a request is refused before it reaches the engine."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

MAX_K = 1000
MAX_BUDGET = 1_000_000
MAX_BATCHES = 1000
MAX_MESSAGES = 1000
Name = Field(default=None, min_length=1, max_length=200)
INT64_MAX = 2**63 - 1
# strict: a JSON true is not the time 1970-01-01T00:00:01, nor k=1
TimeValue = StrictStr | StrictFloat | StrictInt


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScopeFields(Strict):
    user_id: str | None = Name
    agent_id: str | None = Name
    session_id: str | None = Name


class Message(Strict):
    content: str
    role: str | None = None
    speaker: str | None = None
    timestamp: TimeValue | None = None
    metadata: dict[str, Any] | None = None


class AddBody(ScopeFields):
    messages: str | list[Message | str] = Field(
        description="A text, or messages in order (one exchange: one transaction, one session).")
    timestamp: TimeValue | None = None
    metadata: dict[str, Any] | None = None
    kind: str | None = None
    role: str | None = None
    speaker: str | None = None
    provenance: list[str] = Field(default_factory=list, max_length=1000)
    subject: str | None = Field(default=None, min_length=1, max_length=200,
                                description='A fact\'s slot: who it is about ("user", a name).')
    attribute: str | None = Field(default=None, min_length=1, max_length=200,
                                  description='A fact\'s slot: what ("home city"); a later fact of the slot '
                                              'supersedes it.')
    expires_at: TimeValue | None = Field(default=None, description="Reads skip it from then on; cleanup erases it.")
    ttl: StrictFloat | StrictInt | None = Field(default=None, gt=0, description="Seconds until it expires.")


class BatchItem(ScopeFields):
    messages: list[Message | str] = Field(min_length=1, max_length=MAX_MESSAGES)
    metadata: dict[str, Any] | None = None


class AddManyBody(Strict):
    batches: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCHES)


class SearchBody(ScopeFields):
    query: str = Field(min_length=1, max_length=10_000)
    k: StrictInt | None = Field(default=None, ge=1, le=MAX_K)
    budget_tokens: StrictInt | None = Field(default=None, ge=1, le=MAX_BUDGET)
    filters: dict[str, Any] | None = None
    kinds: list[str] | None = Field(default=None, max_length=10)
    as_of: TimeValue | None = None
    valid_at: TimeValue | None = None
    now: TimeValue | None = None


class UpdateBody(ScopeFields):
    content: str | None = None
    metadata: dict[str, Any] | None = None
    timestamp: TimeValue | None = None


class SupersedeBody(ScopeFields):
    content: str
    metadata: dict[str, Any] | None = None
    timestamp: TimeValue | None = None
    kind: str | None = None


class FlushBody(ScopeFields):
    timeout: float | None = Field(default=30.0, ge=0, le=3600)


class RetryBody(Strict):
    stage: str | None = Field(default=None, max_length=100)
    ids: list[Annotated[StrictInt, Field(ge=1, le=INT64_MAX)]] | None = Field(default=None, max_length=10_000)


class MaintainBody(Strict):
    dry_run: bool = Field(default=False, description="Report what the pass would do; change nothing.")
