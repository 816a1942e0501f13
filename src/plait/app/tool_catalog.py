"""The tools a workspace has, as Dify's console shows them: providers (built-in, api, mcp,
workflow) with their tools, each tool with its parameters in Dify's form shape and its JSON
Schema. Reading never connects anywhere: an MCP server's tools are those it listed last
(``tool-provider/mcp/tools/{id}`` lists them again, connecting).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from plait.app.tool_providers import ApiProviderForm, ToolProviders
from plait.app.workflow_tools import WorkflowTools
from plait.errors import PlaitError
from plait.storage.db.tables import CustomToolProvider, WorkflowToolProvider
from plait.tools import (
    Tool,
    ToolArgumentError,
    ToolCallFailed,
    ToolNotFound,
    ToolProvider,
    ToolRegistry,
    ToolTimeout,
)
from plait.tools.base import StaticToolProvider
from plait.tools.openapi import CREDENTIALS_SCHEMA, OpenAPITool

AUTHOR = "Plait"


def i18n(text: str) -> dict[str, str]:
    return {"en_US": text, "zh_Hans": text}


def parameter_items(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A JSON Schema's properties as Dify's tool parameters (the form a console renders)."""
    required = set(schema.get("required") or ())
    items = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, Mapping) else {}
        description = str(prop.get("description") or "")
        declared = prop.get("type")
        declared = next((t for t in declared if t != "null"), "string") if isinstance(declared, list) else declared
        kind = {"integer": "number", "number": "number", "boolean": "boolean", "object": "object", "array": "array"}
        items.append(
            {
                "name": name,
                "label": i18n(str(prop.get("title") or name)),
                "human_description": i18n(description),
                "llm_description": description,
                "type": "select" if prop.get("enum") else kind.get(str(declared), "string"),
                "form": "llm",
                "required": name in required,
                "default": prop.get("default"),
                "options": [{"value": str(v), "label": i18n(str(v))} for v in prop.get("enum") or ()],
            }
        )
    return items


def tool_item(tool: Tool, author: str = AUTHOR) -> dict[str, Any]:
    """A tool as Dify's ``ToolApiEntity``, plus its JSON Schema (``input_schema``)."""
    return {
        "author": author,
        "name": tool.name,
        "label": i18n(tool.label),
        "description": i18n(tool.description),
        "parameters": parameter_items(tool.parameters),
        "input_schema": dict(tool.parameters),
        "labels": [],
        "output_schema": None,
    }


def listed_tool_item(listed: Mapping[str, Any]) -> dict[str, Any]:
    """A tool from an MCP server's last listing."""
    schema = listed.get("input_schema") or {}
    name, description = str(listed.get("name") or ""), str(listed.get("description") or "")
    return {
        "author": "",
        "name": name,
        "label": i18n(name),
        "description": i18n(description),
        "parameters": parameter_items(schema),
        "input_schema": schema,
        "labels": [],
        "output_schema": None,
    }


def provider_item(
    *,
    id: str,
    name: str,
    label: str,
    type: str,
    tools: list[dict[str, Any]],
    description: str = "",
    icon: Any = "",
    author: str = AUTHOR,
    labels: Sequence[str] = (),
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": id,
        "author": author,
        "name": name,
        "plugin_id": None,
        "plugin_unique_identifier": None,
        "description": i18n(description),
        "icon": icon or "",
        "icon_dark": None,
        "label": i18n(label),
        "type": type,
        "team_credentials": {},
        "masked_credentials": {},
        "is_team_authorization": True,
        "allow_delete": type != "builtin",
        "tools": tools,
        "labels": list(labels),
        **extra,
    }


class ToolCatalog:
    def __init__(self, registry: ToolRegistry, providers: ToolProviders, workflows: WorkflowTools) -> None:
        self.registry = registry
        self._providers = providers
        self._workflows = workflows

    async def providers(self, workspace_id: str) -> list[dict[str, Any]]:
        found = [await self._builtin_item(provider) for provider in self.registry.providers]
        for row in await self._providers.listed(workspace_id):
            found.append(self.mcp_item(row) if row.provider_type == "mcp" else self.api_item(row))
        for registration in await self._workflows.listed(workspace_id):
            found.append(await self.workflow_item(registration))
        return found

    async def _builtin_item(self, provider: ToolProvider) -> dict[str, Any]:
        tools = [tool_item(tool) for tool in await provider.list_tools()]
        return provider_item(
            id=provider.name,
            name=provider.name,
            label=provider.label,
            type="builtin",
            description=provider.description,
            tools=tools,
        )

    async def builtin_tools(self, provider: str) -> list[dict[str, Any]]:
        return [tool_item(tool) for tool in await self.registry.provider(provider).list_tools()]

    def api_item(self, row: CustomToolProvider) -> dict[str, Any]:
        try:
            provider = self._providers.provider(row)
        except PlaitError:  # a provider whose secrets no longer open still lists, without tools
            provider = None
        tools = provider.tools if isinstance(provider, StaticToolProvider) else ()
        return provider_item(
            id=row.id,
            name=row.name,
            label=row.name,
            type="api",
            author="",
            description=provider.description if provider is not None else "",
            icon=row.config.get("icon"),
            tools=[tool_item(tool, "") for tool in tools],
            labels=row.config.get("labels") or (),
        )

    def mcp_item(self, row: CustomToolProvider) -> dict[str, Any]:
        try:
            shown = self._providers.shown(row)
        except PlaitError:  # its secrets no longer open (SECRET_KEY changed): listed, to be fixed
            shown = {**row.config, "server_url": "", "headers": {}}
        return provider_item(
            id=row.id,
            name=row.name,
            label=row.name,
            type="mcp",
            author="",
            icon=shown.get("icon"),
            tools=[listed_tool_item(listed) for listed in shown.get("tools") or []],
            server_url=shown["server_url"],
            server_identifier=row.server_identifier or "",
            headers=shown.get("headers") or {},
            timeout=shown.get("timeout"),
            updated_at=int(row.updated_at.timestamp()),
        )

    async def workflow_item(self, registration: WorkflowToolProvider) -> dict[str, Any]:
        try:
            tools = [tool_item(await self._workflows.tool(registration.workspace_id, registration.id), "")]
        except ToolNotFound:  # its app is not published (any more)
            tools = []
        return provider_item(
            id=registration.id,
            name=registration.name,
            label=registration.label,
            type="workflow",
            author="",
            description=registration.description,
            icon=registration.config.get("icon"),
            tools=tools,
            labels=registration.config.get("labels") or (),
            workflow_app_id=registration.app_id,
        )

    # -- api providers ---------------------------------------------------------------
    async def api_tools(self, workspace_id: str, name: str) -> list[dict[str, Any]]:
        row = await self._providers.find(workspace_id, "api", name)
        return [tool_item(tool, "") for tool in await self._providers.provider(row).list_tools()]

    async def api_detail(self, workspace_id: str, name: str) -> dict[str, Any]:
        row = await self._providers.find(workspace_id, "api", name)
        shown = self._providers.shown(row)
        provider = self._providers.provider(row)
        tools = await provider.list_tools()
        return {
            "id": row.id,
            "provider": row.name,
            "schema_type": shown.get("schema_type", "openapi"),
            "schema": shown.get("schema", ""),
            "credentials": shown.get("credentials") or {},
            "headers": shown.get("headers") or {},
            "icon": shown.get("icon"),
            "description": i18n(provider.description),
            "privacy_policy": shown.get("privacy_policy", ""),
            "custom_disclaimer": shown.get("custom_disclaimer", ""),
            "labels": shown.get("labels") or [],
            "tools": [tool_item(tool, "") for tool in tools],
        }

    async def parse_schema(self, workspace_id: str, schema: str) -> dict[str, Any]:
        provider = await self._providers.preview_api(workspace_id, ApiProviderForm(name="preview", schema=schema))
        operations = []
        for tool in provider.tools:
            assert isinstance(tool, OpenAPITool)
            operation = tool.operation
            operations.append(
                {
                    "operation_id": operation.name,
                    "method": operation.method.lower(),
                    "server_url": operation.server_url + operation.path,
                    "path": operation.path,
                    "summary": operation.description,
                    "parameters": parameter_items(tool.parameters),
                    "input_schema": dict(tool.parameters),
                }
            )
        return {
            "schema_type": "openapi",
            "parameters_schema": operations,
            "credentials_schema": CREDENTIALS_SCHEMA,
            "warning": {str(i): text for i, text in enumerate(provider.warnings)},
        }

    async def test_api(
        self,
        workspace_id: str,
        form: ApiProviderForm,
        tool_name: str,
        parameters: Mapping[str, Any],
        stored_name: str = "",
    ) -> dict[str, Any]:
        """Call one operation of an unsaved provider: ``{result}``, or ``{error}`` when the
        call fails (Dify's answer); a form that cannot be used is a 400."""
        provider = await self._providers.preview_api(workspace_id, form, stored_name)
        tool = provider.tool(tool_name)
        try:
            output = await tool.invoke(parameters)
        except (ToolArgumentError, ToolCallFailed, ToolTimeout) as error:
            return {"error": error.message}
        return {"result": output.text or json.dumps(output.json, ensure_ascii=False)}

    # -- mcp providers ---------------------------------------------------------------
    async def mcp_tools(self, workspace_id: str, provider_id: str) -> list[dict[str, Any]]:
        _, tools = await self._providers.mcp_tools(workspace_id, provider_id)
        return [tool_item(tool, "") for tool in tools]

    # -- workflow tools --------------------------------------------------------------
    async def workflow_detail(
        self, workspace_id: str, *, tool_id: str | None = None, app_id: str | None = None
    ) -> dict[str, Any]:
        registration = await self._workflows.registration(workspace_id, tool_id=tool_id, app_id=app_id)
        item = await self.workflow_item(registration)
        return {
            "name": registration.name,
            "label": registration.label,
            "workflow_tool_id": registration.id,
            "workflow_app_id": registration.app_id,
            "icon": registration.config.get("icon"),
            "description": registration.description,
            "parameters": registration.config.get("parameters") or [],
            "privacy_policy": registration.config.get("privacy_policy", ""),
            "labels": registration.config.get("labels") or [],
            "tool": item["tools"][0] if item["tools"] else None,
            "synced": bool(item["tools"]),
        }

    async def workflow_tools(self, workspace_id: str, tool_id: str) -> list[dict[str, Any]]:
        detail = await self.workflow_detail(workspace_id, tool_id=tool_id)
        return [detail["tool"]] if detail["tool"] else []
