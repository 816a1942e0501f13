"""Which model answers a call, for a workspace.

A node names a model as Dify writes it (``{provider: "langgenius/openai/openai", name:
"gpt-4o"}``); the resolver finds the provider's spec, the workspace's credentials for it
(a custom model's own, over the provider's), builds the adapter once and keeps it, and
hands the engine a :class:`~plait.providers.pricing.PricedChatModel`. A model block with
no provider means the workspace's default model, and with no default, Plait's offline
local model. ``PLAIT_MODEL_OVERRIDE`` sends every call of every app to one model instead
(``fake``, ``local`` or ``PROVIDER:MODEL``), so any imported DSL runs offline.

Credentials are read once per workspace and kept for ``cache_seconds`` (changes made
through this process take effect at once; other replicas see them within that time).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from plait.app.model_credentials import ModelCredentials
from plait.errors import ConfigurationError
from plait.providers.base import ChatModel, EmbeddingModel, Reranker
from plait.providers.catalog import HttpAccess, ModelSpec, ModelType, ProviderSpec
from plait.providers.errors import ModelNotConfigured
from plait.providers.pricing import PricedChatModel
from plait.providers.registry import ProviderRegistry

log = structlog.get_logger(__name__)

LOCAL_PROVIDER = "local"
# Plait's offline defaults: what answers when a workspace has chosen nothing.
BUILTIN_DEFAULTS: dict[str, tuple[str, str]] = {
    "llm": (LOCAL_PROVIDER, "smollm2-135m-instruct"),
    "text-embedding": (LOCAL_PROVIDER, "all-minilm-l6-v2"),
}


@dataclass(frozen=True)
class ModelOverride:
    """``PLAIT_MODEL_OVERRIDE``: the one model every LLM call goes to."""

    provider: str
    model: str

    # With fake or local, embeddings go offline too (PROVIDER:MODEL names a chat model only).
    embedding: tuple[str, str] | None = None

    @classmethod
    def parse(cls, value: str | None, registry: Callable[[], ProviderRegistry]) -> ModelOverride | None:
        if not value:
            return None
        if value == "fake":
            return cls("fake", "fake", ("fake", "fake-embedding"))
        if value == "local":
            return cls(*BUILTIN_DEFAULTS["llm"], BUILTIN_DEFAULTS["text-embedding"])
        provider, _, model = value.partition(":")  # model names may hold colons (llama3:8b)
        if not provider or not model:
            raise ConfigurationError("PLAIT_MODEL_OVERRIDE must be fake, local or PROVIDER:MODEL")
        canonical = registry().canonical(provider)
        if canonical is None:
            known = ", ".join(spec.id for spec in registry().specs())
            raise ConfigurationError(f"PLAIT_MODEL_OVERRIDE names an unknown provider {provider!r} (known: {known})")
        return cls(canonical, model)


@dataclass
class _Snapshot:
    loaded_at: float
    credentials: dict[tuple[str, str, str], dict[str, Any]]
    defaults: dict[str, tuple[str, str]]


class ModelResolver:
    def __init__(
        self,
        registry: Callable[[], ProviderRegistry],
        credentials: ModelCredentials,
        http: HttpAccess,
        *,
        override: ModelOverride | None = None,
        builtin_credentials: Mapping[str, Mapping[str, Any]] | None = None,
        cache_seconds: float = 30.0,
    ) -> None:
        # A factory: the installed providers are imported on first use, not at startup.
        self._registry = registry
        self.override = override
        self._credentials = credentials
        self._http = http
        self._builtin = {key: dict(value) for key, value in (builtin_credentials or {}).items()}
        self._cache_seconds = cache_seconds
        self._snapshots: dict[str, _Snapshot] = {}
        self._built: dict[tuple[str, ...], tuple[str, Any]] = {}
        self._retired: list[Any] = []

    @property
    def registry(self) -> ProviderRegistry:
        return self._registry()

    def for_workspace(self, workspace_id: str) -> WorkspaceModels:
        return WorkspaceModels(self, workspace_id)

    async def embedding_model(self, workspace_id: str, provider: str, model: str) -> EmbeddingModel:
        """The embedding model ``provider``/``model`` of a workspace (annotation reply and
        knowledge bases ask this way)."""
        return await self.for_workspace(workspace_id).embedding(provider, model)

    def invalidate(self, workspace_id: str) -> None:
        """Forget a workspace's credentials (they changed)."""
        self._snapshots.pop(workspace_id, None)

    async def aclose(self) -> None:
        """Close the clients of every adapter built (at shutdown)."""
        for _, adapter in self._built.values():
            self._retired.append(adapter)
        self._built.clear()
        for adapter in self._retired:
            closer = getattr(adapter, "aclose", None)
            if closer is not None:
                try:
                    await closer()
                except Exception as error:  # closing is best effort; a leak beats a failed shutdown
                    log.warning("model_adapter.close_failed", error=str(error))
        self._retired.clear()

    async def _snapshot(self, workspace_id: str) -> _Snapshot:
        snapshot = self._snapshots.get(workspace_id)
        now = time.monotonic()
        if snapshot is None or now - snapshot.loaded_at > self._cache_seconds:
            credentials = await self._credentials.resolved(workspace_id)
            defaults = {
                d.model_type: (d.provider, d.model_name) for d in await self._credentials.defaults(workspace_id)
            }
            snapshot = _Snapshot(now, credentials, defaults)
            self._snapshots[workspace_id] = snapshot
        return snapshot

    async def resolve(self, workspace_id: str, model_type: ModelType, provider: str, model: str) -> Any:
        """The adapter for ``provider``/``model`` (ids in any form Dify writes) in the
        workspace; raises ``ModelNotConfigured`` saying what is missing."""
        if self.override is not None and model_type == "llm":
            provider, model = self.override.provider, self.override.model
        elif self.override is not None and self.override.embedding and model_type == "text-embedding":
            provider, model = self.override.embedding
        snapshot = await self._snapshot(workspace_id)
        if not provider:
            provider, model = snapshot.defaults.get(model_type) or BUILTIN_DEFAULTS.get(model_type, ("", ""))
            if not provider:
                raise ModelNotConfigured(f"no default {model_type} model is set for this workspace")
        spec = self.registry.get(provider)
        if spec is None:
            raise ModelNotConfigured(
                f"Plait has no model provider {provider!r}; configure one in Settings → Model providers,"
                " or run every model on one with PLAIT_MODEL_OVERRIDE"
            )
        if model_type not in spec.model_types:
            raise ModelNotConfigured(f"{spec.label} offers no {model_type} models")
        credentials = self._credentials_for(spec, model_type, model, snapshot)
        fingerprint = hashlib.sha256(json.dumps(credentials, sort_keys=True, default=str).encode()).hexdigest()
        key = (workspace_id, spec.id, model_type, model)
        cached = self._built.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        adapter = self.build(spec, model_type, model, credentials)
        if cached is not None:
            self._retired.append(cached[1])  # may be mid-stream: closed at shutdown
        self._built[key] = (fingerprint, adapter)
        return adapter

    async def stored_credentials(
        self, workspace_id: str, spec: ProviderSpec, model_type: str, model: str
    ) -> dict[str, Any]:
        """What is stored for this provider (and custom model), secrets opened; empty when
        nothing is."""
        self.invalidate(workspace_id)
        snapshot = await self._snapshot(workspace_id)
        return {
            **snapshot.credentials.get((spec.id, "", ""), {}),
            **(snapshot.credentials.get((spec.id, model_type, model), {}) if model else {}),
        }

    def _credentials_for(self, spec: ProviderSpec, model_type: str, model: str, snapshot: _Snapshot) -> dict[str, Any]:
        provider_wide = snapshot.credentials.get((spec.id, "", ""))
        own = snapshot.credentials.get((spec.id, model_type, model))
        if not spec.needs_credentials:
            return {**self._builtin.get(spec.id, {}), **(provider_wide or {}), **(own or {})}
        if provider_wide is None and own is None:
            raise ModelNotConfigured(
                f"Model provider {spec.label} is not configured in this workspace: add its credentials in"
                " Settings → Model providers (or run every model offline with PLAIT_MODEL_OVERRIDE=local)"
            )
        return {**(provider_wide or {}), **(own or {})}

    def build(self, spec: ProviderSpec, model_type: ModelType, model: str, credentials: Mapping[str, Any]) -> Any:
        """A new adapter (not kept): for resolution, and to check credentials before saving."""
        model_spec: ModelSpec | None = spec.model(model, model_type)
        if model_type == "llm" and spec.build_chat is not None:
            chat = spec.build_chat(credentials, model, model_spec, self._http)
            return PricedChatModel(chat, model_spec.pricing if model_spec else None, spec.id)
        if model_type == "text-embedding" and spec.build_embedding is not None:
            return spec.build_embedding(credentials, model, model_spec, self._http)
        if model_type == "rerank" and spec.build_reranker is not None:
            return spec.build_reranker(credentials, model, model_spec, self._http)
        raise ModelNotConfigured(f"{spec.label} cannot build {model_type} models")


class WorkspaceModels:
    """The engine's :class:`~plait.engine.services.Models` for one workspace."""

    def __init__(self, resolver: ModelResolver, workspace_id: str) -> None:
        self._resolver = resolver
        self.workspace_id = workspace_id

    async def chat(self, config: Mapping[str, Any]) -> ChatModel:
        model: ChatModel = await self._resolver.resolve(
            self.workspace_id, "llm", str(config.get("provider") or ""), str(config.get("name") or "")
        )
        return model

    async def embedding(self, provider: str, model: str) -> EmbeddingModel:
        found: EmbeddingModel = await self._resolver.resolve(self.workspace_id, "text-embedding", provider, model)
        return found

    async def reranker(self, provider: str, model: str) -> Reranker:
        found: Reranker = await self._resolver.resolve(self.workspace_id, "rerank", provider, model)
        return found
