"""What a model provider offers, described as data: its credential form, its models with
their capabilities and prices, and how to build a model from credentials.

Every vendor module exports one or more :class:`ProviderSpec` values (``PROVIDERS``), and
the registry finds them through the ``plait.providers`` entry points, built-ins exactly as
plugins. The app layer keeps credentials (encrypted) and asks a spec for models; the spec
never stores anything.

Networking is handed in: ``build_*`` receive an :class:`HttpAccess` (the egress, in Plait),
so adapters never open a connection of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from plait.providers.base import ChatModel, EmbeddingModel, ModelCapabilities, Reranker

ModelType = Literal["llm", "text-embedding", "rerank"]
FieldKind = Literal["secret", "text", "select", "number", "boolean"]

PER_MILLION = Decimal("0.000001")


class HttpAccess(Protocol):
    """How adapters reach the network: Plait's egress client has this shape."""

    def sdk_client(self, *, timeout: float | None = None) -> Any:
        """A new guarded ``httpx.AsyncClient`` for a vendor SDK; the caller closes it."""
        ...

    def httpx2_client(self, *, timeout: float | None = None) -> Any:
        """The same, as an ``httpx2.AsyncClient`` (for SDKs built on httpx2)."""
        ...

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the whole call's deadline, as the egress takes it)
    ) -> Any:
        """One whole request/response (``status_code``, ``headers``, ``content``)."""
        ...


@dataclass(frozen=True, slots=True)
class CredentialField:
    """One field of a provider's (or a custom model's) credential form. ``secret`` fields
    are encrypted at rest and never shown again in clear."""

    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = False
    default: str | None = None
    options: tuple[str, ...] = ()
    placeholder: str = ""
    help: str = ""


@dataclass(frozen=True, slots=True)
class ModelPricing:
    """Prices as Dify reports them: ``unit_price`` per token-count unit ``price_unit``
    (per million tokens is ``price_unit = 0.000001`` with the price per million)."""

    input: Decimal = Decimal(0)
    output: Decimal = Decimal(0)
    price_unit: Decimal = PER_MILLION
    currency: str = "USD"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    model_type: ModelType
    label: str = ""
    capabilities: ModelCapabilities = field(default_factory=ModelCapabilities)
    pricing: ModelPricing | None = None
    # Embedding models: the vector size and the longest input, in tokens.
    dimensions: int | None = None
    max_input_tokens: int | None = None
    deprecated: bool = False


ChatBuilder = Callable[[Mapping[str, Any], str, ModelSpec | None, HttpAccess], ChatModel]
EmbeddingBuilder = Callable[[Mapping[str, Any], str, ModelSpec | None, HttpAccess], EmbeddingModel]
RerankBuilder = Callable[[Mapping[str, Any], str, ModelSpec | None, HttpAccess], Reranker]


@dataclass(frozen=True)
class ProviderSpec:
    """A provider: ``id`` is Plait's name for it (``openai``); ``aliases`` are other names
    imported DSL files use (Dify's ``langgenius/openai/openai`` form is handled by the
    registry for every provider). ``custom_models`` means users add their own models
    (self-hosted servers), each with ``model_fields``."""

    id: str
    label: str
    model_types: tuple[ModelType, ...]
    credential_fields: tuple[CredentialField, ...] = ()
    models: tuple[ModelSpec, ...] = ()
    custom_models: bool = False
    model_fields: tuple[CredentialField, ...] = ()
    aliases: tuple[str, ...] = ()
    # Built-in providers that need no credentials (the offline local model, the fake).
    needs_credentials: bool = True
    build_chat: ChatBuilder | None = None
    build_embedding: EmbeddingBuilder | None = None
    build_reranker: RerankBuilder | None = None
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def model(self, name: str, model_type: ModelType) -> ModelSpec | None:
        return next((m for m in self.models if m.name == name and m.model_type == model_type), None)

    def secret_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in (*self.credential_fields, *self.model_fields) if f.kind == "secret")
