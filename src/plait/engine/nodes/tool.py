"""Tool: call a tool (built-in, OpenAPI, MCP, workflow-as-tool) with resolved parameters.

Tools come from ``ctx.services.tools``. A DSL that names a tool Plait cannot provide (a
marketplace plugin, say) still imports; running the node fails with a message naming it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from plait.engine import templates
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.variables import MISSING, Selector, VariablePool, as_selector
from plait.errors import PlaitError


class ToolConfig(NodeConfig):
    provider_id: str = ""
    provider_type: str = "builtin"
    provider_name: str = ""
    tool_name: str = ""
    tool_label: str | None = None
    tool_configurations: dict[str, Any] = {}
    tool_parameters: dict[str, Any] = {}


def resolve(value: Any, pool: VariablePool) -> Any:
    """A parameter as Dify writes it: ``{type: mixed|variable|constant, value}`` or a bare value.

    Dify's older tool nodes write bare strings that hold references
    (``json_string: '{{#http.body#}}'``); those are templates too."""
    if isinstance(value, str) and templates.REFERENCE.search(value):
        return templates.render(templates.parse(value), pool)
    if not (isinstance(value, Mapping) and "type" in value and "value" in value):
        return value
    kind, raw = value["type"], value["value"]
    if kind == "variable" and isinstance(raw, list):
        found = pool.get(raw)
        return None if found is MISSING else found
    if kind == "mixed" and isinstance(raw, str):
        return templates.render(templates.parse(raw), pool)
    return raw


def text_of(outputs: Mapping[str, Any]) -> str:
    """A tool's outputs as a model reads them: its text, else its JSON."""
    text = outputs.get("text")
    if isinstance(text, str) and text:
        return text
    data = outputs.get("json")
    if data:
        return json.dumps(data, ensure_ascii=False, default=str)
    files = outputs.get("files") or []
    return f"{len(files)} file(s) produced" if files else ""


def parameter_references(value: Any) -> list[Selector]:
    if isinstance(value, str):
        return templates.references(value)
    if isinstance(value, Mapping) and value.get("type") == "variable" and isinstance(value.get("value"), list):
        return [as_selector(value["value"])]
    if isinstance(value, Mapping) and value.get("type") == "mixed" and isinstance(value.get("value"), str):
        return templates.references(value["value"])
    return []


class ToolNode(Node):
    node_type = "tool"
    Config = ToolConfig
    config: ToolConfig

    def references(self) -> Sequence[Selector]:
        values = [*self.config.tool_parameters.values(), *self.config.tool_configurations.values()]
        return [selector for value in values for selector in parameter_references(value)]

    def warnings(self) -> Sequence[str]:
        if self.config.provider_type == "plugin" or "/" in self.config.provider_id:
            name = f"{self.config.provider_id}/{self.config.tool_name}"
            return [f"node {self.id!r} uses the plugin tool {name}; runs fail there unless Plait provides it"]
        return ()

    async def run(self, ctx: NodeContext) -> NodeResult:
        name = f"{self.config.provider_id or self.config.provider_name}/{self.config.tool_name}"
        parameters = {key: resolve(value, ctx.pool) for key, value in self.config.tool_configurations.items()}
        parameters.update({key: resolve(value, ctx.pool) for key, value in self.config.tool_parameters.items()})
        tools = ctx.services.tools
        if tools is None:
            raise NodeFailed(f"tool {name} is not available in Plait", "ToolNotAvailable")
        provider = {
            "provider_id": self.config.provider_id,
            "provider_type": self.config.provider_type,
            "provider_name": self.config.provider_name,
            "tool_name": self.config.tool_name,
        }
        try:
            outputs = await tools.invoke(self.id, provider, parameters)
        except PlaitError as error:
            raise NodeFailed(f"tool {name} failed: {error.message}", "ToolError") from None
        return NodeResult({"text": "", "files": [], "json": [], **outputs}, inputs=parameters)
