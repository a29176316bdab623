"""Chat LLM adapters: any OpenAI-compatible endpoint, and a scripted one for tests."""

from engramdb.core.errors import LLMError
from engramdb.core.ports import LLM, ChatMessage, Completion, JSONCompletion, LLMUsage

__all__ = ["LLM", "ChatMessage", "Completion", "JSONCompletion", "LLMError", "LLMUsage"]
