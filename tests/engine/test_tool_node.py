"""Tool nodes with the real built-in tools: parameters as Dify writes them, the older bare
strings with ``{{#node.var#}}`` references included, and the node's outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from plait.engine.services import Services
from plait.engine.workflow import compile_workflow
from plait.errors import PlaitError
from plait.events import NodeFinished
from plait.providers.base import ToolDefinition
from plait.tools import ToolRegistry

from .graphs import end, finished, graph, run, start, template


class BuiltinTools:
    """The engine's tool protocol over the real built-in registry, noting each call."""

    def __init__(self) -> None:
        self.registry = ToolRegistry.from_entry_points()
        self.calls: list[dict[str, Any]] = []

    async def invoke(self, node_id: str, provider: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(dict(parameters))
        tool = await self.registry.tool(provider["provider_id"], provider["tool_name"])
        output = await tool.invoke(parameters)
        return {"text": output.text, "json": output.json, **output.variables}

    async def definition(self, provider: Mapping[str, Any]) -> ToolDefinition:
        tool = await self.registry.tool(provider["provider_id"], provider["tool_name"])
        return ToolDefinition(tool.name, tool.description, dict(tool.parameters))


def tool(node_id: str, provider: str, name: str, **parameters: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "tool", "provider_id": provider, "tool_name": name, "tool_parameters": parameters}


async def test_a_bare_string_with_references_is_rendered_as_a_template() -> None:
    tools = BuiltinTools()
    definition = graph(
        [
            start("a"),
            template("body", '{"order": {"total": {{ a }}}}', a=["start", "a"]),
            # Dify's older tool nodes: bare strings, references inside.
            tool("parse", "json_process", "json_parse", content="{{#body.output#}}", json_filter="$.order.total"),
            tool("maths", "maths", "eval_expression", expression="{{#start.a#}} * 2"),
            end(total=["parse", "text"], doubled=["maths", "result"]),
        ],
        [("start", "body"), ("body", "parse"), ("parse", "maths"), ("maths", "end")],
    )
    events = await run(definition, {"a": "21"}, Services(tools=tools))
    assert finished(events).status == "succeeded", finished(events).error
    assert tools.calls[0]["content"] == '{"order": {"total": 21}}'
    assert tools.calls[1] == {"expression": "21 * 2"}
    assert finished(events).outputs == {"total": "21", "doubled": 42}


async def test_typed_parameters_and_plain_constants_are_as_before() -> None:
    tools = BuiltinTools()
    definition = graph(
        [
            start("a"),
            tool(
                "maths",
                "maths",
                "eval_expression",
                expression={"type": "mixed", "value": "{{#start.a#}} + 1"},
            ),
            tool("again", "maths", "eval_expression", expression="2 ** 3"),
            end(sum=["maths", "result"], power=["again", "result"]),
        ],
        [("start", "maths"), ("maths", "again"), ("again", "end")],
    )
    events = await run(definition, {"a": "1"}, Services(tools=tools))
    assert finished(events).status == "succeeded", finished(events).error
    assert finished(events).outputs == {"sum": 2, "power": 8}
    node = next(e for e in events if isinstance(e, NodeFinished) and e.node_id == "again")
    assert node.outputs is not None
    assert (node.outputs["files"], node.outputs["json"]) == ([], [])


async def test_a_bare_string_naming_a_missing_node_is_refused_at_compile_time() -> None:
    definition = graph(
        [start("a"), tool("maths", "maths", "eval_expression", expression="{{#nowhere.x#}}"), end()],
        [("start", "maths"), ("maths", "end")],
    )
    with pytest.raises(PlaitError, match="nowhere"):
        compile_workflow(definition, mode="workflow")
