"""What nodes may use from outside the engine, passed in by whoever starts a run.

Protocols only: the app layer wires real implementations (model providers, the code
sandbox, the egress client, tools); tests and ``plait run`` wire fakes or scripts.
A service that is absent makes the nodes needing it fail with a message saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from plait.providers.base import ChatModel
from plait.providers.fake import FakeChatModel


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
    async def invoke(self, node_id: str, provider: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
        """Run a tool; return the tool node's outputs (``text``, ``files``, ``json``...)."""
        ...


class Retriever(Protocol):
    async def retrieve(self, query: str, dataset_ids: Sequence[str], config: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Passages for ``query`` from the datasets: ``{content, title, metadata}`` records."""
        ...


class AgentRunner(Protocol):
    async def run(self, node_id: str, strategy: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]: ...


def _fake_models(_config: Mapping[str, Any]) -> ChatModel:
    return FakeChatModel()


@dataclass
class Services:
    chat_model: Callable[[Mapping[str, Any]], ChatModel] = _fake_models
    code: CodeRunner | None = None
    http: Callable[[str], HttpClient] | None = None  # node id -> client
    tools: ToolInvoker | None = None
    retrieval: Retriever | None = None
    agents: AgentRunner | None = None
