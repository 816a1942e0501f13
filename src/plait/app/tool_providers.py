"""A workspace's own tool providers: OpenAPI documents (``api``) and MCP servers (``mcp``).

Saving checks everything that can be checked offline (the OpenAPI document is read, the
API key and headers are well formed, the MCP URL is http(s)) and never connects anywhere:
an MCP server is reached only when its tools are listed or called. Secrets (API key
values, custom header values, an MCP server's URL and headers) are sealed before they
reach the database, bound to the workspace, the provider and the field, and never leave
in clear: reads mask them, and a form sent back with a masked (or Dify's hidden) value
keeps what is stored.

A provider is named in DSL files by its id or its name (an MCP server also by its
``server_identifier``); every lookup is within one workspace.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plait.app.audit import Actor, record
from plait.app.model_credentials import HIDDEN, mask
from plait.app.secret_box import SecretBox
from plait.egress import Egress
from plait.errors import Conflict, InvalidInput
from plait.ids import is_uuid, new_id
from plait.storage.db import Database
from plait.storage.db.tables import CustomToolProvider
from plait.tools import Tool, ToolDefinitionError, ToolNotFound, ToolProvider
from plait.tools.http import HttpClient, HttpResponse
from plait.tools.mcp import MCPProvider
from plait.tools.openapi import ApiKey, OpenAPIProvider

CREDENTIAL_FIELDS = frozenset(
    {"auth_type", "api_key_header", "api_key_header_prefix", "api_key_query_param", "api_key_value"}
)
SECRET_CREDENTIALS = frozenset({"api_key_value"})
SCHEMA_TYPES = ("openapi", "swagger", "openai_plugin")
SERVER_IDENTIFIER = re.compile(r"^[a-z0-9_-]{1,24}$")
MAX_MCP_TIMEOUT = 300.0
DEFAULT_MCP_TIMEOUT = 30.0
BUILT_CACHE_SIZE = 512
URL_MASK = "/******"


@dataclass(frozen=True)
class ApiProviderForm:
    """Dify's ``tool-provider/api/add`` body, plus ``headers`` sent with every call."""

    name: str
    schema: str
    schema_type: str = "openapi"
    credentials: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    icon: Any = None
    privacy_policy: str = ""
    custom_disclaimer: str = ""
    labels: Sequence[str] = ()


@dataclass(frozen=True)
class McpProviderForm:
    name: str
    server_url: str
    server_identifier: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_MCP_TIMEOUT
    icon: Any = None
    icon_type: str = ""
    icon_background: str = ""


def masked_url(url: str) -> str:
    """An MCP server URL as the console shows it: its origin, the rest hidden (Dify's way)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    return origin + URL_MASK if (parts.path not in ("", "/") or parts.query) else origin


class HeaderedClient:
    """The egress, adding a provider's custom headers to every request (the operation's own
    headers, the API key's included, win over them)."""

    def __init__(self, http: HttpClient, headers: Mapping[str, str]) -> None:
        self._http = http
        self._headers = dict(headers)

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, **options: Any
    ) -> HttpResponse:
        return await self._http.request(method, url, headers={**self._headers, **(headers or {})}, **options)


class ToolProviders:
    def __init__(self, db: Database, box: SecretBox, egress: Egress) -> None:
        self._db = db
        self._box = box
        self._egress = egress
        self._built: OrderedDict[str, tuple[datetime, ToolProvider]] = OrderedDict()

    # -- writing ---------------------------------------------------------------------
    async def add_api(self, workspace_id: str, actor: Actor, form: ApiProviderForm) -> CustomToolProvider:
        return await self._save(workspace_id, actor, None, form)

    async def update_api(
        self, workspace_id: str, actor: Actor, original_name: str, form: ApiProviderForm
    ) -> CustomToolProvider:
        row = await self.find(workspace_id, "api", original_name)
        return await self._save(workspace_id, actor, row, form)

    async def add_mcp(self, workspace_id: str, actor: Actor, form: McpProviderForm) -> CustomToolProvider:
        return await self._save(workspace_id, actor, None, form)

    async def update_mcp(
        self, workspace_id: str, actor: Actor, provider_id: str, form: McpProviderForm
    ) -> CustomToolProvider:
        row = await self.find(workspace_id, "mcp", provider_id)
        return await self._save(workspace_id, actor, row, form)

    async def delete(self, workspace_id: str, actor: Actor, provider_type: str, key: str) -> None:
        row = await self.find(workspace_id, provider_type, key)
        async with self._db.transaction() as session:
            stored = await session.get(CustomToolProvider, row.id)
            if stored is not None:
                await session.delete(stored)
            record(
                session,
                actor,
                "tool_provider.delete",
                workspace_id=workspace_id,
                target_type="tool_provider",
                target_id=row.id,
                detail={"provider_type": provider_type, "name": row.name},
            )
        self._built.pop(row.id, None)

    async def _save(
        self,
        workspace_id: str,
        actor: Actor,
        existing: CustomToolProvider | None,
        form: ApiProviderForm | McpProviderForm,
    ) -> CustomToolProvider:
        name = form.name.strip()
        if not name or len(name) > 255:
            raise InvalidInput("The provider name must be 1 to 255 characters long.", params="provider")
        provider_id = existing.id if existing is not None else new_id()
        stored = existing.config if existing is not None else {}
        identifier: str | None = None
        if isinstance(form, ApiProviderForm):
            provider_type, config = "api", self._api_config(workspace_id, provider_id, form, stored)
        else:
            provider_type, config = "mcp", self._mcp_config(workspace_id, provider_id, form, stored)
            identifier = form.server_identifier.strip() or None
            if identifier is not None and not SERVER_IDENTIFIER.match(identifier):
                raise InvalidInput(
                    "server_identifier must be 1 to 24 lower-case letters, digits, '_' or '-'.",
                    params="server_identifier",
                )
        same_name = (CustomToolProvider.provider_type == provider_type) & (CustomToolProvider.name == name)
        clashes = same_name | (CustomToolProvider.server_identifier == identifier) if identifier else same_name
        async with self._db.transaction() as session:
            clash = (
                await session.execute(
                    select(CustomToolProvider.id).where(
                        CustomToolProvider.workspace_id == workspace_id, CustomToolProvider.id != provider_id, clashes
                    )
                )
            ).first()
            if clash is not None:
                raise Conflict(f"A tool provider named {name!r} (or with that server identifier) already exists.")
            row = await session.get(CustomToolProvider, provider_id) if existing is not None else None
            if row is None:
                row = CustomToolProvider(
                    id=provider_id, workspace_id=workspace_id, provider_type=provider_type, created_by=actor.account_id
                )
                session.add(row)
            row.name, row.server_identifier, row.config = name, identifier, config
            record(
                session,
                actor,
                f"tool_provider.{'update' if existing is not None else 'create'}",
                workspace_id=workspace_id,
                target_type="tool_provider",
                target_id=provider_id,
                detail={"provider_type": provider_type, "name": name},
            )
            try:
                await session.flush()
            except IntegrityError:
                raise Conflict(f"A tool provider named {name!r} already exists.") from None
        return row

    def _api_config(
        self, workspace_id: str, provider_id: str, form: ApiProviderForm, stored: Mapping[str, Any]
    ) -> dict[str, Any]:
        if form.schema_type not in SCHEMA_TYPES:
            raise InvalidInput(f"schema_type must be one of {', '.join(SCHEMA_TYPES)}.", params="schema_type")
        credentials, headers = self._clear_secrets(workspace_id, provider_id, form, stored)
        # Checked as it will be used: the document read, the key and the headers well formed.
        self._api_provider(form.name, form.schema, credentials, headers)
        seal = self._sealer(workspace_id, provider_id)
        return {
            "schema_type": form.schema_type,
            "schema": form.schema,
            "credentials": {
                key: seal(f"credentials.{key}", value) if key in SECRET_CREDENTIALS else value
                for key, value in credentials.items()
            },
            "headers": {key: seal(f"headers.{key}", value) for key, value in headers.items()},
            "icon": form.icon,
            "privacy_policy": form.privacy_policy,
            "custom_disclaimer": form.custom_disclaimer,
            "labels": [str(label) for label in form.labels],
        }

    def _mcp_config(
        self, workspace_id: str, provider_id: str, form: McpProviderForm, stored: Mapping[str, Any]
    ) -> dict[str, Any]:
        if not 0 < form.timeout <= MAX_MCP_TIMEOUT:
            raise InvalidInput(f"timeout must be between 0 and {MAX_MCP_TIMEOUT:g} seconds.", params="timeout")
        url = self._kept(workspace_id, provider_id, "server_url", form.server_url.strip(), stored.get("server_url"))
        headers = self._clear_headers(workspace_id, provider_id, form.headers, stored.get("headers") or {})
        self._mcp_provider(form.name, url, headers, form.timeout)
        seal = self._sealer(workspace_id, provider_id)
        return {
            "server_url": seal("server_url", url),
            "headers": {key: seal(f"headers.{key}", value) for key, value in headers.items()},
            "timeout": float(form.timeout),
            "icon": form.icon,
            "icon_type": form.icon_type,
            "icon_background": form.icon_background,
            "tools": stored.get("tools") or [],  # the last listing, until the server is listed again
        }

    def _clear_secrets(
        self, workspace_id: str, provider_id: str, form: ApiProviderForm, stored: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """A form's credentials and headers in clear, masked values replaced by what is stored."""
        unknown = sorted(set(form.credentials) - CREDENTIAL_FIELDS)
        if unknown:
            raise InvalidInput(f"unknown credential field {unknown[0]!r}", params=f"credentials.{unknown[0]}")
        stored_credentials: Mapping[str, Any] = stored.get("credentials") or {}
        credentials: dict[str, Any] = {}
        for key, value in form.credentials.items():
            if value in (None, ""):
                continue
            if not isinstance(value, str):
                raise InvalidInput(f"credentials.{key} must be text", params=f"credentials.{key}")
            if key in SECRET_CREDENTIALS:
                value = self._kept(workspace_id, provider_id, f"credentials.{key}", value, stored_credentials.get(key))
            credentials[key] = value
        headers = self._clear_headers(workspace_id, provider_id, form.headers, stored.get("headers") or {})
        return credentials, headers

    def _clear_headers(
        self, workspace_id: str, provider_id: str, headers: Mapping[str, Any], stored: Mapping[str, Any]
    ) -> dict[str, str]:
        clear: dict[str, str] = {}
        for key, value in headers.items():
            if not isinstance(value, str):
                raise InvalidInput(f"the header {key!r} must be text", params=f"headers.{key}")
            clear[key] = self._kept(workspace_id, provider_id, f"headers.{key}", value, stored.get(key))
        return clear

    def _kept(self, workspace_id: str, provider_id: str, name: str, value: str, sealed: Any) -> str:
        """``value``, or the stored secret when ``value`` is what the console was shown of it."""
        if not sealed:
            return value
        stored = self._open(workspace_id, provider_id, name, str(sealed))
        shown = masked_url(stored) if name == "server_url" else mask(stored)
        return stored if value in (HIDDEN, shown) else value

    def _sealer(self, workspace_id: str, provider_id: str) -> Callable[[str, str], str]:
        def seal(name: str, value: str) -> str:
            return self._box.seal(value, context=_context(workspace_id, provider_id, name))

        return seal

    def _open(self, workspace_id: str, provider_id: str, name: str, sealed: str) -> str:
        return self._box.open(sealed, context=_context(workspace_id, provider_id, name))

    # -- reading ---------------------------------------------------------------------
    async def listed(self, workspace_id: str, provider_type: str | None = None) -> list[CustomToolProvider]:
        query = select(CustomToolProvider).where(CustomToolProvider.workspace_id == workspace_id)
        if provider_type is not None:
            query = query.where(CustomToolProvider.provider_type == provider_type)
        async with self._db.reader() as session:
            return list((await session.execute(query.order_by(CustomToolProvider.name))).scalars())

    async def find(self, workspace_id: str, provider_type: str, *keys: str) -> CustomToolProvider:
        """The provider the first matching key names: an id, a name (an MCP server's
        identifier too). Another workspace's providers never match."""
        async with self._db.reader() as session:
            for key in (key.strip() for key in keys if key and key.strip()):
                query = select(CustomToolProvider).where(
                    CustomToolProvider.workspace_id == workspace_id, CustomToolProvider.provider_type == provider_type
                )
                if is_uuid(key):
                    query = query.where(CustomToolProvider.id == key)
                elif provider_type == "mcp":
                    query = query.where(
                        (CustomToolProvider.name == key) | (CustomToolProvider.server_identifier == key)
                    )
                else:
                    query = query.where(CustomToolProvider.name == key)
                row = (await session.execute(query.limit(1))).scalar_one_or_none()
                if row is not None:
                    return row
        kind = "API" if provider_type == "api" else provider_type.upper()
        raise ToolNotFound(f"this workspace has no {kind} tool provider {next((k for k in keys if k), '')!r}")

    def shown(self, row: CustomToolProvider) -> dict[str, Any]:
        """The provider's stored form, every secret masked."""
        config = dict(row.config)
        headers = {
            key: mask(self._open(row.workspace_id, row.id, f"headers.{key}", value))
            for key, value in (config.get("headers") or {}).items()
        }
        if row.provider_type == "mcp":
            url = self._open(row.workspace_id, row.id, "server_url", config["server_url"])
            return {**config, "server_url": masked_url(url), "headers": headers}
        credentials = {
            key: mask(self._open(row.workspace_id, row.id, f"credentials.{key}", value))
            if key in SECRET_CREDENTIALS
            else value
            for key, value in (config.get("credentials") or {}).items()
        }
        return {**config, "credentials": credentials, "headers": headers}

    def provider(self, row: CustomToolProvider) -> ToolProvider:
        """The provider a row describes, secrets opened; kept while the row is unchanged."""
        cached = self._built.get(row.id)
        if cached is not None and cached[0] == row.updated_at:
            self._built.move_to_end(row.id)
            return cached[1]
        config = row.config
        opened = {
            key: self._open(row.workspace_id, row.id, f"headers.{key}", value)
            for key, value in (config.get("headers") or {}).items()
        }
        built: ToolProvider
        if row.provider_type == "api":
            credentials = {
                key: self._open(row.workspace_id, row.id, f"credentials.{key}", value)
                if key in SECRET_CREDENTIALS
                else value
                for key, value in (config.get("credentials") or {}).items()
            }
            built = self._api_provider(row.name, config.get("schema") or "", credentials, opened)
        else:
            url = self._open(row.workspace_id, row.id, "server_url", config["server_url"])
            built = self._mcp_provider(row.name, url, opened, float(config.get("timeout") or DEFAULT_MCP_TIMEOUT))
        self._built[row.id] = (row.updated_at, built)
        if len(self._built) > BUILT_CACHE_SIZE:
            self._built.popitem(last=False)
        return built

    async def mcp_tools(self, workspace_id: str, provider_id: str) -> tuple[CustomToolProvider, Sequence[Tool]]:
        """Connect to the MCP server, list its tools, and keep the listing for the console."""
        row = await self.find(workspace_id, "mcp", provider_id)
        provider = self.provider(row)
        assert isinstance(provider, MCPProvider)
        tools = await provider.refresh()
        listing = [{"name": t.name, "description": t.description, "input_schema": dict(t.parameters)} for t in tools]
        async with self._db.transaction() as session:
            stored = await session.get(CustomToolProvider, row.id)
            if stored is None:
                raise ToolNotFound(f"this workspace has no MCP tool provider {provider_id!r}")
            stored.config = {**stored.config, "tools": listing}
            await session.flush()
        self._built[row.id] = (stored.updated_at, provider)  # what was just listed stays current
        return stored, tools

    async def preview_api(self, workspace_id: str, form: ApiProviderForm, stored_name: str = "") -> OpenAPIProvider:
        """The provider a form describes, unsaved (to parse a schema, or to try a call). When
        ``stored_name`` names a stored provider (the console sends the name of a new one too),
        masked secrets in the form are that provider's."""
        rows = [row for row in await self.listed(workspace_id, "api") if row.name == stored_name.strip()]
        provider_id, stored = (rows[0].id, rows[0].config) if rows else ("", {})
        credentials, headers = self._clear_secrets(workspace_id, provider_id, form, stored)
        return self._api_provider(form.name or "preview", form.schema, credentials, headers)

    # -- building --------------------------------------------------------------------
    def _api_provider(
        self, name: str, schema: str, credentials: Mapping[str, Any], headers: Mapping[str, str]
    ) -> OpenAPIProvider:
        try:
            auth = ApiKey.from_dify(credentials)
            _check_headers(headers)
            http: HttpClient = HeaderedClient(self._egress, headers) if headers else self._egress
            return OpenAPIProvider(name, schema, http=http, auth=auth)
        except ToolDefinitionError as error:
            raise _invalid(error, "schema") from None

    def _mcp_provider(self, name: str, url: str, headers: Mapping[str, str], timeout: float) -> MCPProvider:
        egress = self._egress
        try:
            return MCPProvider(
                name,
                url,
                client_factory=lambda: egress.httpx2_client(timeout=timeout),
                headers=headers,
                timeout=timeout,
            )
        except ToolDefinitionError as error:
            raise _invalid(error, "server_url") from None


def _check_headers(headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        token = bool(name) and all(33 <= ord(c) < 127 and c not in '()<>@,;:\\"/[]?={}' for c in name)
        if not token or any(char in value for char in "\r\n"):
            raise ToolDefinitionError(f"the header {name!r} is malformed", path=f"headers.{name}")


def _invalid(error: ToolDefinitionError, field_name: str) -> InvalidInput:
    """A definition error as the console's 400, naming where it is."""
    path = error.path
    if path is not None and path.startswith(("credentials", "headers", "server_url", "timeout")):
        return InvalidInput(error.message, params=path)
    where = f" at {path}" if path else ""
    return InvalidInput(f"The {field_name} is invalid{where}: {error.message}", params=field_name)


def _context(workspace_id: str, provider_id: str, name: str) -> str:
    return f"{workspace_id}/{provider_id}/{name}"
