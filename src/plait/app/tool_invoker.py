"""The engine's :class:`~plait.engine.services.ToolInvoker` for one workspace: every tool a
tool node or an agent may name, found the way Dify's DSL names it.

``provider_type`` decides where a tool comes from:

- ``builtin`` (or ``plugin``, as Dify 1.x calls the former built-ins): the ``plait.tools``
  entry points, by ``time``, ``langgenius/time/time``, or ``builtin`` plus the tool's name
  (and, when no built-in matches, a custom provider of the workspace by its id or name);
- ``api``: the workspace's OpenAPI providers, by id or name;
- ``mcp``: its MCP servers, by id, server identifier or name;
- ``workflow``: its published workflow apps (:mod:`plait.app.workflow_tools`).

Any other type (``dataset-retrieval``, say) is a ``ToolNotFound`` saying Plait has none.

A tool node's outputs are ``{text, json, files, **variables}``; files are Dify file values
(:mod:`plait.app.tool_files`). Tool errors (``ToolError`` is a ``PlaitError``) pass through
for the node to report; a provider or tool that does not exist is a ``ToolNotFound`` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from plait.app.tool_files import ToolFiles
from plait.app.tool_providers import ToolProviders
from plait.app.workflow_tools import WorkflowTools
from plait.providers.base import ToolDefinition
from plait.rag.parse import DEFAULT_LIMITS, SourceDocument
from plait.rag.parse.html import HtmlParser
from plait.tools import Tool, ToolNotFound, ToolRegistry, canonical_provider_id
from plait.tools.registry import ANY_BUILTIN

BUILTIN_TYPES = frozenset({"", "builtin", "plugin"})
CUSTOM_TYPES = frozenset({"api", "mcp"})
_FUNCTION_NAME = re.compile(r"[^a-zA-Z0-9_-]")


def html_to_text(body: bytes, content_type: str) -> str:
    """A web page's readable text through the document parser's HTML extractor, so Plait
    reads HTML one way. (The parser finds the encoding itself: BOM, UTF-8, ``<meta>``.)"""
    return HtmlParser().parse(SourceDocument(body, "page.html", DEFAULT_LIMITS)).text


def function_name(name: str) -> str:
    """A tool's name as model APIs accept a function's: ``^[a-zA-Z0-9_-]{1,64}$``."""
    return _FUNCTION_NAME.sub("_", name)[:64] or "tool"


def tool_definition(tool: Tool) -> ToolDefinition:
    return ToolDefinition(function_name(tool.name), tool.description, dict(tool.parameters))


class ToolInvokers:
    """Every workspace's invoker; the engine services ask one per workspace."""

    def __init__(
        self, registry: ToolRegistry, providers: ToolProviders, workflows: WorkflowTools, files: ToolFiles
    ) -> None:
        self.registry = registry
        self.providers = providers
        self.workflows = workflows
        self.files = files

    def for_workspace(self, workspace_id: str) -> WorkspaceTools:
        return WorkspaceTools(self, workspace_id)


class WorkspaceTools:
    def __init__(self, invokers: ToolInvokers, workspace_id: str) -> None:
        self._invokers = invokers
        self.workspace_id = workspace_id

    async def tool(self, provider: Mapping[str, Any]) -> Tool:
        """The tool ``provider`` (``{provider_id, provider_type, provider_name, tool_name}``) names."""
        provider_type = str(provider.get("provider_type") or "").strip().lower()
        provider_id = str(provider.get("provider_id") or "")
        provider_name = str(provider.get("provider_name") or "")
        tool_name = str(provider.get("tool_name") or "")
        if provider_type in CUSTOM_TYPES:
            row = await self._invokers.providers.find(self.workspace_id, provider_type, provider_id, provider_name)
            return await self._invokers.providers.provider(row).get_tool(tool_name)
        if provider_type == "workflow":
            # A workflow provider has one tool: whatever the node calls it, the workflow answers.
            return await self._invokers.workflows.tool(self.workspace_id, provider_id, provider_name, tool_name)
        if provider_type not in BUILTIN_TYPES:
            raise ToolNotFound(f"tools of type {provider_type!r} are not available in Plait")
        return await self._builtin(provider_id, provider_name, tool_name)

    async def _builtin(self, provider_id: str, provider_name: str, tool_name: str) -> Tool:
        registry = self._invokers.registry
        names = {provider.name for provider in registry.providers}
        keys = [key for key in (provider_id, provider_name) if key.strip()]
        for key in keys:
            if canonical_provider_id(key) in names:
                return await registry.tool(key, tool_name)
        if all(canonical_provider_id(key) in ANY_BUILTIN for key in keys):
            return await registry.tool("", tool_name)  # "builtin" or nothing: the tool's name decides
        for provider_type in sorted(CUSTOM_TYPES):  # a custom provider named with the wrong type
            try:
                row = await self._invokers.providers.find(self.workspace_id, provider_type, *keys)
            except ToolNotFound:
                continue
            return await self._invokers.providers.provider(row).get_tool(tool_name)
        raise ToolNotFound(f"there is no tool provider {keys[0]!r} in Plait or in this workspace")

    async def invoke(self, node_id: str, provider: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
        tool = await self.tool(provider)
        output = await tool.invoke(parameters)
        files = [await self._invokers.files.file_value(self.workspace_id, file) for file in output.files]
        return {"text": output.text, "json": output.json, "files": files, **output.variables}

    async def definition(self, provider: Mapping[str, Any]) -> ToolDefinition:
        return tool_definition(await self.tool(provider))
