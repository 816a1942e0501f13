"""A workspace's model provider credentials and default models.

Credentials are a provider's form values (``ProviderSpec.credential_fields``) or a custom
model's (``model_fields``). Secret fields are sealed before they reach the database and
are never returned in clear: reads for display mask them, and a form sent back with a
masked or hidden value keeps the stored secret (the console never needs to see it again).
Only :meth:`ModelCredentials.resolved` opens them, for the model registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from plait.app.secret_box import SecretBox
from plait.errors import InvalidInput, NotFound
from plait.providers.catalog import CredentialField, ModelType, ProviderSpec
from plait.providers.registry import ProviderRegistry
from plait.storage.db import Database
from plait.storage.db.tables import DefaultModel, ProviderCredential

# What the console sends back for a secret it was shown masked (Dify's marker).
HIDDEN = "[__HIDDEN__]"
MODEL_TYPES: tuple[ModelType, ...] = ("llm", "text-embedding", "rerank")


def mask(secret: str) -> str:
    """Enough of a secret to recognise it, as Dify shows keys: ``sk-abc************yz``."""
    if len(secret) <= 8:
        return "*" * len(secret)
    return secret[:6] + "*" * 12 + secret[-2:]


@dataclass(frozen=True)
class StoredCredentials:
    """One credential row as the console may see it: secrets masked."""

    provider: str
    model_type: str
    model_name: str
    values: dict[str, Any]
    updated_at: int


@dataclass(frozen=True)
class DefaultModelChoice:
    model_type: str
    provider: str
    model_name: str


class ModelCredentials:
    def __init__(self, db: Database, registry: Callable[[], ProviderRegistry], box: SecretBox) -> None:
        self._db = db
        self._registry_factory = registry
        self._box = box

    @property
    def _registry(self) -> ProviderRegistry:
        return self._registry_factory()

    def spec(self, provider: str) -> ProviderSpec:
        spec = self._registry.get(provider)
        if spec is None:
            raise NotFound(f"Model provider {provider!r} does not exist.")
        return spec

    # -- writing ---------------------------------------------------------------------
    async def save(
        self,
        workspace_id: str,
        provider: str,
        values: Mapping[str, Any],
        *,
        model_type: str = "",
        model_name: str = "",
        account_id: str | None = None,
    ) -> StoredCredentials:
        """Store the provider's credentials (or, with ``model_name``, a custom model's).
        Unknown fields are refused; masked or hidden secrets keep their stored value."""
        spec = self.spec(provider)
        if model_name:
            if model_type not in MODEL_TYPES or model_type not in spec.model_types:
                raise InvalidInput(f"{spec.label} has no models of type {model_type!r}", params="model_type")
            if not spec.custom_models:
                raise InvalidInput(f"{spec.label} does not take custom models", params="model")
            fields = spec.model_fields
        else:
            model_type = ""
            fields = spec.credential_fields
        async with self._db.transaction() as session:
            row = (
                await session.execute(
                    select(ProviderCredential).where(
                        ProviderCredential.workspace_id == workspace_id,
                        ProviderCredential.provider == spec.id,
                        ProviderCredential.model_type == model_type,
                        ProviderCredential.model_name == model_name,
                    )
                )
            ).scalar_one_or_none()
            stored = dict(row.config) if row is not None else {}
            context = _context(workspace_id, spec.id, model_type, model_name)
            config = self._sealed(fields, values, stored, context)
            if row is None:
                row = ProviderCredential(
                    workspace_id=workspace_id,
                    provider=spec.id,
                    model_type=model_type,
                    model_name=model_name,
                    config=config,
                    created_by=account_id,
                )
                session.add(row)
            else:
                row.config = config
            await session.flush()
            return self._shown(spec, row)

    def _sealed(
        self,
        fields: tuple[CredentialField, ...],
        values: Mapping[str, Any],
        stored: Mapping[str, Any],
        context: str,
    ) -> dict[str, Any]:
        known = {field.name: field for field in fields}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise InvalidInput(f"unknown credential field {unknown[0]!r}", params=unknown[0])
        config: dict[str, Any] = {}
        for name, field in known.items():
            value = values.get(name)
            if field.kind == "secret":
                if value == HIDDEN or (isinstance(value, str) and _looks_masked(value)):
                    kept = stored.get(name)  # the console sent back what it was shown
                elif isinstance(value, str) and value:
                    kept = self._box.seal(value, context=f"{context}/{name}")
                else:
                    kept = None
                if kept:
                    config[name] = kept
                elif field.required:
                    raise InvalidInput(f"{field.label} is required", params=name)
                continue
            if value is None or value == "":
                value = field.default
            if value is not None and not isinstance(value, str | int | float | bool):
                raise InvalidInput(f"{field.label} must be text", params=name)
            if field.kind == "select" and field.options and value is not None and str(value) not in field.options:
                raise InvalidInput(f"{field.label} must be one of {', '.join(field.options)}", params=name)
            if field.required and value in (None, ""):
                raise InvalidInput(f"{field.label} is required", params=name)
            if value is not None:
                config[name] = value
        return {name: value for name, value in config.items() if value is not None}

    async def delete(self, workspace_id: str, provider: str, *, model_type: str = "", model_name: str = "") -> None:
        spec = self.spec(provider)
        async with self._db.transaction() as session:
            query = delete(ProviderCredential).where(
                ProviderCredential.workspace_id == workspace_id, ProviderCredential.provider == spec.id
            )
            if model_name:
                query = query.where(
                    ProviderCredential.model_type == model_type, ProviderCredential.model_name == model_name
                )
            result = await session.execute(query)
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound("These credentials do not exist.")
            if not model_name:  # the provider is gone: so are the defaults that pointed at it
                await session.execute(
                    delete(DefaultModel).where(
                        DefaultModel.workspace_id == workspace_id, DefaultModel.provider == spec.id
                    )
                )

    async def set_default(self, workspace_id: str, model_type: str, provider: str, model_name: str) -> None:
        if model_type not in MODEL_TYPES:
            raise InvalidInput(f"unknown model type {model_type!r}", params="model_type")
        spec = self.spec(provider)
        if model_type not in spec.model_types:
            raise InvalidInput(f"{spec.label} has no models of type {model_type!r}", params="model_type")
        if not model_name:
            raise InvalidInput("model is required", params="model")
        async with self._db.transaction() as session:
            row = (
                await session.execute(
                    select(DefaultModel).where(
                        DefaultModel.workspace_id == workspace_id, DefaultModel.model_type == model_type
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                session.add(
                    DefaultModel(
                        workspace_id=workspace_id, model_type=model_type, provider=spec.id, model_name=model_name
                    )
                )
            else:
                row.provider, row.model_name = spec.id, model_name

    # -- reading ---------------------------------------------------------------------
    async def listed(self, workspace_id: str) -> list[StoredCredentials]:
        async with self._db.reader() as session:
            rows = (
                await session.execute(
                    select(ProviderCredential)
                    .where(ProviderCredential.workspace_id == workspace_id)
                    .order_by(ProviderCredential.provider, ProviderCredential.model_type, ProviderCredential.model_name)
                )
            ).scalars()
            return [self._shown(self.spec(row.provider), row) for row in rows if self._registry.get(row.provider)]

    async def defaults(self, workspace_id: str) -> list[DefaultModelChoice]:
        async with self._db.reader() as session:
            rows = (
                await session.execute(select(DefaultModel).where(DefaultModel.workspace_id == workspace_id))
            ).scalars()
            return [DefaultModelChoice(row.model_type, row.provider, row.model_name) for row in rows]

    async def resolved(self, workspace_id: str) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Every credential of the workspace, secrets opened, by (provider, model type,
        model name); for the model registry only."""
        async with self._db.reader() as session:
            rows = list(
                (
                    await session.execute(
                        select(ProviderCredential).where(ProviderCredential.workspace_id == workspace_id)
                    )
                ).scalars()
            )
        opened: dict[tuple[str, str, str], dict[str, Any]] = {}
        for row in rows:
            spec = self._registry.get(row.provider)
            if spec is None:
                continue
            secrets = spec.secret_fields()
            context = _context(workspace_id, row.provider, row.model_type, row.model_name)
            opened[(row.provider, row.model_type, row.model_name)] = {
                name: self._box.open(value, context=f"{context}/{name}") if name in secrets else value
                for name, value in row.config.items()
            }
        return opened

    def _shown(self, spec: ProviderSpec, row: ProviderCredential) -> StoredCredentials:
        secrets = spec.secret_fields()
        context = _context(row.workspace_id, row.provider, row.model_type, row.model_name)
        values = {
            name: mask(self._box.open(value, context=f"{context}/{name}")) if name in secrets else value
            for name, value in row.config.items()
        }
        return StoredCredentials(row.provider, row.model_type, row.model_name, values, int(row.updated_at.timestamp()))


def _context(workspace_id: str, provider: str, model_type: str, model_name: str) -> str:
    return f"{workspace_id}/{provider}/{model_type}/{model_name}"


def _looks_masked(value: str) -> bool:
    """Whether ``value`` is a secret as :func:`mask` shows it (no real key has a run of
    twelve asterisks)."""
    return "*" * 12 in value or (len(value) <= 8 and set(value) == {"*"})
