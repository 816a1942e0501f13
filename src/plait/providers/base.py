"""Provider protocols and the values that cross them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """A piece of a streamed reply. The last chunk has ``final`` set and carries the usage."""

    text: str
    final: bool = False
    usage: Usage | None = None
    finish_reason: str | None = None
    extra_outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: Sequence[ChatMessage]
    model: str
    parameters: dict[str, Any] = field(default_factory=dict)
    # Who asks: lets scripted models answer per workflow node.
    caller: str | None = None


class ModelError(Exception):
    """A model call failed; the message is for the workflow's author."""


class ChatModel(Protocol):
    name: str

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]: ...
