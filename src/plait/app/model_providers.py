"""Model providers as the console manages them: what Plait offers, what a workspace has
configured, credentials checked by a real call before they are saved, default models.

Changing credentials takes effect at once in this process (the resolver forgets the
workspace's cached credentials) and within ``PLAIT_MODEL_CREDENTIALS_CACHE_SECONDS`` on
other replicas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from plait.app.model_credentials import HIDDEN, MODEL_TYPES, ModelCredentials, StoredCredentials
from plait.app.model_resolver import BUILTIN_DEFAULTS, ModelResolver
from plait.errors import InvalidInput
from plait.providers.base import ChatMessage, ChatRequest, collect
from plait.providers.catalog import CredentialField, ModelSpec, ModelType, ProviderSpec
from plait.providers.errors import ModelError

VALIDATION_PROMPT = "ping"


def field_item(field: CredentialField) -> dict[str, Any]:
    """A credential form field in Dify's schema shape."""
    kinds = {"secret": "secret-input", "text": "text-input", "select": "select", "number": "text-input"}
    item: dict[str, Any] = {
        "variable": field.name,
        "label": {"en_US": field.label},
        "type": kinds.get(field.kind, "text-input"),
        "required": field.required,
        "default": field.default,
        "placeholder": {"en_US": field.placeholder} if field.placeholder else None,
        "options": [{"value": option, "label": {"en_US": option}} for option in field.options],
    }
    if field.kind == "boolean":
        item["type"] = "radio"
        item["options"] = [{"value": v, "label": {"en_US": v}} for v in ("true", "false")]
    return item


def model_item(spec: ProviderSpec, model: ModelSpec, *, active: bool) -> dict[str, Any]:
    capabilities = model.capabilities
    features = [
        name
        for name, on in (
            ("tool-call", capabilities.tool_calling),
            ("vision", capabilities.vision),
            ("structured-output", capabilities.structured_output),
            ("reasoning", capabilities.reasoning),
        )
        if on
    ]
    properties: dict[str, Any] = {"mode": "chat"} if model.model_type == "llm" else {}
    if capabilities.context_window:
        properties["context_size"] = capabilities.context_window
    if model.dimensions:
        properties["dimensions"] = model.dimensions
    if model.max_input_tokens:
        properties["max_chunks"] = 1
        properties["context_size"] = model.max_input_tokens
    return {
        "model": model.name,
        "label": {"en_US": model.label or model.name},
        "model_type": model.model_type,
        "features": features,
        "fetch_from": "predefined-model",
        "model_properties": properties,
        "deprecated": model.deprecated,
        "status": "active" if active else "no-configure",
        "load_balancing_enabled": False,
        "pricing": (
            {
                "input": str(model.pricing.input),
                "output": str(model.pricing.output),
                "unit": str(model.pricing.price_unit),
                "currency": model.pricing.currency,
            }
            if model.pricing
            else None
        ),
    }


class ModelProviders:
    def __init__(self, credentials: ModelCredentials, resolver: ModelResolver) -> None:
        self._credentials = credentials
        self._resolver = resolver
        self.registry = resolver.registry

    async def catalog(self, workspace_id: str) -> list[dict[str, Any]]:
        stored = await self._credentials.listed(workspace_id)
        configured = {item.provider for item in stored if not item.model_name}
        custom = [item for item in stored if item.model_name]
        providers = []
        for spec in self.registry.specs():
            active = spec.id in configured or not spec.needs_credentials
            providers.append(
                {
                    "provider": spec.id,
                    "label": {"en_US": spec.label},
                    "description": {"en_US": spec.description} if spec.description else None,
                    "supported_model_types": list(spec.model_types),
                    "configurate_methods": ["predefined-model"]
                    + (["customizable-model"] if spec.custom_models else []),
                    "provider_credential_schema": {
                        "credential_form_schemas": [field_item(f) for f in spec.credential_fields]
                    },
                    "model_credential_schema": (
                        {"credential_form_schemas": [field_item(f) for f in spec.model_fields]}
                        if spec.custom_models
                        else None
                    ),
                    "custom_configuration": {"status": "active" if active else "no-configure"},
                    "needs_credentials": spec.needs_credentials,
                    "models": [model_item(spec, model, active=active) for model in spec.models],
                    "custom_models": [
                        {"model": item.model_name, "model_type": item.model_type, "updated_at": item.updated_at}
                        for item in custom
                        if item.provider == spec.id
                    ],
                }
            )
        return providers

    async def credentials(self, workspace_id: str, provider: str) -> dict[str, Any] | None:
        spec = self._credentials.spec(provider)
        for item in await self._credentials.listed(workspace_id):
            if item.provider == spec.id and not item.model_name:
                return item.values
        return None

    async def save(
        self,
        workspace_id: str,
        provider: str,
        values: Mapping[str, Any],
        *,
        model_type: str = "",
        model_name: str = "",
        account_id: str | None = None,
        validate: bool = True,
    ) -> StoredCredentials:
        if validate:
            await self.validate(workspace_id, provider, values, model_type=model_type, model_name=model_name)
        saved = await self._credentials.save(
            workspace_id, provider, values, model_type=model_type, model_name=model_name, account_id=account_id
        )
        self._resolver.invalidate(workspace_id)
        return saved

    async def validate(
        self,
        workspace_id: str,
        provider: str,
        values: Mapping[str, Any],
        *,
        model_type: str = "",
        model_name: str = "",
    ) -> None:
        """Make one small real call with these credentials; raise ``InvalidInput`` with the
        provider's answer when it fails. Hidden secrets are taken from what is stored."""
        spec = self._credentials.spec(provider)
        target = self._validation_target(spec, model_type, model_name)
        if target is None:
            return  # nothing to call yet: a provider whose models are all custom
        kind, name = target
        stored = await self._resolver.stored_credentials(workspace_id, spec, model_type, model_name)
        merged = {**stored, **{k: v for k, v in values.items() if v not in (HIDDEN, None) and not _masked(v)}}
        adapter = None
        try:
            adapter = self._resolver.build(spec, kind, name, merged)
            if kind == "llm":
                request = ChatRequest([ChatMessage("user", VALIDATION_PROMPT)], name, {"max_tokens": 5})
                await collect(adapter.stream(request))
            elif kind == "text-embedding":
                await adapter.embed([VALIDATION_PROMPT])
            else:
                await adapter.rerank(VALIDATION_PROMPT, ["pong"])
        except ModelError as error:
            raise InvalidInput(
                f"{spec.label} refused these credentials: {error.message}", params="credentials"
            ) from None
        finally:
            closer = getattr(adapter, "aclose", None)
            if closer is not None:
                await closer()

    @staticmethod
    def _validation_target(spec: ProviderSpec, model_type: str, model_name: str) -> tuple[ModelType, str] | None:
        if model_name:
            kind = next((known for known in MODEL_TYPES if known == model_type), None)
            if kind is None:
                raise InvalidInput(f"unknown model type {model_type!r}", params="model_type")
            return kind, model_name
        for kind in MODEL_TYPES:
            model = next((m for m in spec.models if m.model_type == kind and not m.deprecated), None)
            if model is not None:
                return kind, model.name
        return None

    async def delete(self, workspace_id: str, provider: str, *, model_type: str = "", model_name: str = "") -> None:
        await self._credentials.delete(workspace_id, provider, model_type=model_type, model_name=model_name)
        self._resolver.invalidate(workspace_id)

    async def set_defaults(self, workspace_id: str, choices: list[Mapping[str, Any]]) -> None:
        for choice in choices:
            await self._credentials.set_default(
                workspace_id,
                str(choice.get("model_type") or ""),
                str(choice.get("provider") or ""),
                str(choice.get("model") or ""),
            )
        self._resolver.invalidate(workspace_id)

    async def default(self, workspace_id: str, model_type: str) -> dict[str, Any]:
        if model_type not in MODEL_TYPES:
            raise InvalidInput(f"unknown model type {model_type!r}", params="model_type")
        chosen = next((d for d in await self._credentials.defaults(workspace_id) if d.model_type == model_type), None)
        provider, model = (chosen.provider, chosen.model_name) if chosen else BUILTIN_DEFAULTS.get(model_type, ("", ""))
        spec = self.registry.get(provider) if provider else None
        if spec is None:
            return {}
        return {
            "model": model,
            "model_type": model_type,
            "provider": {"provider": spec.id, "label": {"en_US": spec.label}},
            "builtin": chosen is None,
        }

    async def models_of_type(self, workspace_id: str, model_type: str) -> list[dict[str, Any]]:
        """Models a workspace can use for ``model_type``, by provider (configured ones
        and the built-ins that need no credentials)."""
        if model_type not in MODEL_TYPES:
            raise InvalidInput(f"unknown model type {model_type!r}", params="model_type")
        stored = await self._credentials.listed(workspace_id)
        configured = {item.provider for item in stored if not item.model_name}
        custom: dict[str, list[StoredCredentials]] = {}
        for item in stored:
            if item.model_name and item.model_type == model_type:
                custom.setdefault(item.provider, []).append(item)
        groups = []
        for spec in self.registry.specs():
            if model_type not in spec.model_types:
                continue
            usable = not spec.needs_credentials or spec.id in configured
            models = [
                model_item(spec, model, active=True)
                for model in spec.models
                if model.model_type == model_type and usable
            ]
            models += [
                {
                    "model": item.model_name,
                    "label": {"en_US": item.model_name},
                    "model_type": model_type,
                    "features": [],
                    "fetch_from": "customizable-model",
                    "model_properties": {},
                    "deprecated": False,
                    "status": "active",
                    "load_balancing_enabled": False,
                }
                for item in custom.get(spec.id, [])
            ]
            if models:
                groups.append(
                    {"provider": spec.id, "label": {"en_US": spec.label}, "status": "active", "models": models}
                )
        return groups


def _masked(value: Any) -> bool:
    return isinstance(value, str) and "*" * 12 in value


def stored_item(item: StoredCredentials) -> dict[str, Any]:
    return asdict(item)
