"""An OpenAI-compatible face on chat apps, so OpenAI's own clients work against Plait."""

from plait.api.openai.chat_completions import router

__all__ = ["router"]
