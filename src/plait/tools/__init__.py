"""Tools that workflow ``tool`` nodes, ``agent`` nodes and agent-chat apps call.

    from plait.tools import ToolEnvironment, ToolRegistry

    registry = ToolRegistry.from_entry_points(ToolEnvironment(http=egress))
    tool = await registry.tool("time", "current_time")      # or "langgenius/time/time"
    output = await tool.invoke({"timezone": "Asia/Tokyo"})   # ToolOutput(text, json, files, variables)

Built-in providers come from the ``plait.tools`` entry points (:mod:`plait.tools.registry`);
custom ones are built by the app from what a tenant configured: an OpenAPI document
(:mod:`plait.tools.openapi`) or an MCP server (:mod:`plait.tools.mcp`). This package is an
adapter: it never opens a connection itself but is handed the egress client (or, for the
MCP SDK, a factory of guarded SDK clients). Errors: :mod:`plait.tools.errors`.
"""

from plait.tools.base import (
    FunctionTool,
    HtmlToText,
    ProviderFactory,
    StaticToolProvider,
    Tool,
    ToolEnvironment,
    ToolFile,
    ToolOutput,
    ToolProvider,
)
from plait.tools.errors import (
    ToolArgumentError,
    ToolCallFailed,
    ToolDefinitionError,
    ToolError,
    ToolNotFound,
    ToolTimeout,
)
from plait.tools.http import HttpClient, HttpResponse
from plait.tools.registry import ToolRegistry, canonical_provider_id

__all__ = [
    "FunctionTool",
    "HtmlToText",
    "HttpClient",
    "HttpResponse",
    "ProviderFactory",
    "StaticToolProvider",
    "Tool",
    "ToolArgumentError",
    "ToolCallFailed",
    "ToolDefinitionError",
    "ToolEnvironment",
    "ToolError",
    "ToolFile",
    "ToolNotFound",
    "ToolOutput",
    "ToolProvider",
    "ToolRegistry",
    "ToolTimeout",
    "canonical_provider_id",
]
