"""What nodes may use from outside the engine, passed in by whoever starts a run.

Protocols only: the app layer wires real implementations (model providers, the code
sandbox, the egress client, tools); tests and ``plait run`` wire fakes or scripts.
A service that is absent makes the nodes needing it fail with a message saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from plait.providers.base import ChatModel, EmbeddingModel, Reranker, ToolDefinition
from plait.providers.errors import ModelNotConfigured
from plait.providers.fake import FakeChatModel, FakeEmbeddingModel


class Models(Protocol):
    """The models a run may call, by what a node's configuration names.

    ``config`` is a node's ``model`` block as Dify writes it (``{provider, name, mode,
    completion_params}``). Implementations resolve the provider (Dify's id forms included),
    the workspace's credentials and any override; they raise
    :class:`~plait.providers.errors.ModelNotConfigured` when nothing can answer."""

    async def chat(self, config: Mapping[str, Any]) -> ChatModel: ...

    async def embedding(self, provider: str, model: str) -> EmbeddingModel: ...

    async def reranker(self, provider: str, model: str) -> Reranker: ...


@dataclass(frozen=True)
class FixedModels:
    """The same models whatever a node asks for: tests, ``plait run --model fake``."""

    chat_model: ChatModel = field(default_factory=FakeChatModel)
    embedding_model: EmbeddingModel = field(default_factory=FakeEmbeddingModel)
    reranker_model: Reranker | None = None

    async def chat(self, config: Mapping[str, Any]) -> ChatModel:
        return self.chat_model

    async def embedding(self, provider: str, model: str) -> EmbeddingModel:
        return self.embedding_model

    async def reranker(self, provider: str, model: str) -> Reranker:
        if self.reranker_model is None:
            raise ModelNotConfigured(f"no rerank model is available for {provider}/{model}")
        return self.reranker_model


class CodeRunner(Protocol):
    async def run(self, language: Any, code: str, inputs: Mapping[str, Any]) -> dict[str, Any]: ...


class HttpResponse(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class HttpClient(Protocol):
    """The egress client's shape (``plait.egress.Egress``), as far as nodes use it."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Any = ...,
        params: Any = ...,
        content: Any = ...,
        data: Any = ...,
        files: Any = ...,
        timeout: Any = ...,  # noqa: ASYNC109 (the egress client's per-call deadline)
    ) -> HttpResponse: ...


class ToolInvoker(Protocol):
    """Tools, named as a tool node names them: ``{provider_id, provider_type,
    provider_name, tool_name}``."""

    async def invoke(self, node_id: str, provider: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
        """Run a tool; return the tool node's outputs (``text``, ``files``, ``json``...)."""
        ...

    async def definition(self, provider: Mapping[str, Any]) -> ToolDefinition:
        """The tool as a model is shown it (name, description, JSON Schema parameters),
        for agents; raises ``PlaitError`` when the tool does not exist."""
        ...


class Retriever(Protocol):
    async def retrieve(self, query: str, dataset_ids: Sequence[str], config: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Passages for ``query`` from the datasets: ``{content, title, metadata}`` records."""
        ...


class ConversationMemory(Protocol):
    """The conversation a chat turn belongs to, for nodes with ``memory``."""

    async def turns(self, limit: int) -> list[tuple[str, str]]:
        """The last ``limit`` (query, answer) pairs before this turn, oldest first."""
        ...


class FileReader(Protocol):
    async def read(self, file: Mapping[str, Any]) -> bytes:
        """The bytes of a file variable (see ``plait.engine.files``); raises ``PlaitError``
        saying why when they cannot be had."""
        ...


class AgentRunner(Protocol):
    async def run(self, node_id: str, strategy: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass
class Services:
    models: Models = field(default_factory=FixedModels)
    code: CodeRunner | None = None
    http: Callable[[str], HttpClient] | None = None  # node id -> client
    tools: ToolInvoker | None = None
    retrieval: Retriever | None = None
    agents: AgentRunner | None = None
    files: FileReader | None = None
    # Per turn, for chat apps: set with dataclasses.replace on the workspace's services.
    memory: ConversationMemory | None = None
