"""Chat LLM adapters: any OpenAI-compatible endpoint, and a scripted one for tests."""

from engramdb.llms.base import LLM, ChatMessage, Completion, LLMError

__all__ = ["LLM", "ChatMessage", "Completion", "LLMError"]
