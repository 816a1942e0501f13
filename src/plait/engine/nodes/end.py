"""End: a workflow's outputs. In workflow apps they also stream, one per line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeResult
from plait.engine.variables import MISSING, Selector, as_selector


class EndOutput(BaseModel):
    model_config = ConfigDict(extra="allow")

    variable: str
    value_selector: list[str] = []
    value_type: str | None = None


class EndConfig(NodeConfig):
    outputs: list[EndOutput] = []


class EndNode(Node):
    node_type = "end"
    Config = EndConfig
    config: EndConfig

    @property
    def output_selectors(self) -> list[tuple[str, Selector]]:
        return [(output.variable, as_selector(output.value_selector)) for output in self.config.outputs]

    def references(self) -> Sequence[Selector]:
        return [selector for _, selector in self.output_selectors if selector]

    def output_names(self) -> Sequence[str]:
        return [output.variable for output in self.config.outputs]

    async def run(self, ctx: NodeContext) -> NodeResult:
        outputs: dict[str, Any] = {}
        for name, selector in self.output_selectors:
            value = ctx.pool.get(selector) if selector else MISSING
            outputs[name] = None if value is MISSING else value
        return NodeResult(outputs, inputs=outputs)
