"""Provider protocols and the values that cross them.

Three kinds of model sit behind small protocols: :class:`ChatModel` (blocking and streaming
chat, tool calling, vision inputs, structured output, reasoning kept apart from the answer),
:class:`EmbeddingModel` and :class:`Reranker`. An adapter module per vendor implements them
and declares what each model can do in :class:`ModelCapabilities`; callers check the flags
instead of guessing from names. Vendor errors never cross this boundary: adapters translate
them into :mod:`plait.providers.errors`.

Everything here is plain data (frozen dataclasses), so a recorded call can be stored and
replayed as JSON and a test can build any request by hand.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image input: an ``https://`` URL or a ``data:<mime>;base64,...`` URL."""

    url: str
    detail: Literal["auto", "low", "high"] = "auto"


ContentPart = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asks for. ``arguments`` is the JSON text exactly as the model wrote
    it; :meth:`parsed` reads it (a model may write invalid JSON: callers decide what then)."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed(self) -> dict[str, Any]:
        """The arguments as an object; raises ``ValueError`` when they are not one."""
        value = json.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError(f"the arguments of {self.name} are not a JSON object")
        return value


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation. ``content`` is text, or parts when it carries images.
    An assistant message may carry ``tool_calls``; a ``tool`` message answers the call named
    by ``tool_call_id``."""

    role: Role
    content: str | tuple[ContentPart, ...] = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        if isinstance(self.content, str):
            return ()
        return tuple(part for part in self.content if isinstance(part, ImagePart))


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A tool offered to the model: ``parameters`` is a JSON Schema object."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Structured output: any JSON object, or one matching ``schema``."""

    kind: Literal["json_object", "json_schema"] = "json_schema"
    schema: Mapping[str, Any] | None = None
    name: str = "output"


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """A piece of a streamed reply. Text and reasoning arrive as deltas; tool calls arrive
    whole (adapters assemble the vendor's fragments). The last chunk has ``final`` set and
    carries the usage and the finish reason."""

    text: str
    final: bool = False
    usage: Usage | None = None
    finish_reason: str | None = None
    extra_outputs: dict[str, Any] = field(default_factory=dict)
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: Sequence[ChatMessage]
    model: str
    # Sampling parameters under Dify's names: temperature, top_p, max_tokens,
    # presence_penalty, frequency_penalty, seed, stop. Adapters pass on what their API knows.
    parameters: dict[str, Any] = field(default_factory=dict)
    # Who asks (a workflow node id): lets scripted models answer per node, and shows in logs.
    caller: str | None = None
    tools: Sequence[ToolDefinition] = ()
    # "auto", "required", "none", or the name of the one tool the model must call.
    tool_choice: str | None = None
    response_format: ResponseFormat | None = None


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A whole reply, as :func:`collect` assembles it from a stream."""

    text: str
    usage: Usage
    finish_reason: str
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    extra_outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelCapabilities:
    """What a model can do. Unknown models of an OpenAI-compatible server are assumed to
    stream and call tools; the rest must be declared (in the credentials, or by the adapter)."""

    streaming: bool = True
    tool_calling: bool = False
    vision: bool = False
    structured_output: bool = False
    reasoning: bool = False
    context_window: int | None = None
    max_output_tokens: int | None = None


@runtime_checkable
class ChatModel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> ModelCapabilities: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]: ...


@dataclass(frozen=True, slots=True)
class Embeddings:
    vectors: list[list[float]]
    usage: Usage = Usage()


@runtime_checkable
class EmbeddingModel(Protocol):
    name: str
    dimensions: int
    max_input_tokens: int

    async def embed(
        self, texts: Sequence[str], *, input_type: Literal["document", "query"] = "document"
    ) -> Embeddings: ...


@dataclass(frozen=True, slots=True)
class RerankHit:
    """``index`` points into the documents given; higher ``score`` is more relevant (0..1
    when the vendor normalises, which the common rerank APIs do)."""

    index: int
    score: float


@runtime_checkable
class Reranker(Protocol):
    name: str

    async def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None) -> list[RerankHit]: ...


async def collect(stream: AsyncIterator[ChatChunk]) -> ChatResult:
    """Read a reply stream to its end."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    extra: dict[str, Any] = {}
    usage, finish_reason = Usage(), "stop"
    async for chunk in stream:
        text.append(chunk.text)
        if chunk.reasoning:
            reasoning.append(chunk.reasoning)
        calls.extend(chunk.tool_calls)
        extra.update(chunk.extra_outputs)
        if chunk.usage is not None:
            usage = chunk.usage
        if chunk.finish_reason:
            finish_reason = chunk.finish_reason
    return ChatResult("".join(text), usage, finish_reason, "".join(reasoning), tuple(calls), extra)
