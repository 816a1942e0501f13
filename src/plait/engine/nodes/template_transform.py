"""Template transform: a Jinja2 template over named variables, rendered in a sandboxed
Jinja environment with bounded output."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.templates import TemplateRenderError, render_jinja
from plait.engine.variables import MISSING, Selector, as_selector


class TemplateVariable(BaseModel):
    model_config = ConfigDict(extra="allow")

    variable: str
    value_selector: list[str] = []


class TemplateTransformConfig(NodeConfig):
    template: str = ""
    variables: list[TemplateVariable] = []


class TemplateTransformNode(Node):
    node_type = "template-transform"
    Config = TemplateTransformConfig
    config: TemplateTransformConfig

    def references(self) -> Sequence[Selector]:
        return [as_selector(variable.value_selector) for variable in self.config.variables if variable.value_selector]

    def output_names(self) -> Sequence[str]:
        return ["output"]

    async def run(self, ctx: NodeContext) -> NodeResult:
        values = {}
        for variable in self.config.variables:
            value = ctx.pool.get(variable.value_selector) if variable.value_selector else MISSING
            values[variable.variable] = None if value is MISSING else value
        try:
            output = render_jinja(self.config.template, values)
        except TemplateRenderError as error:
            raise NodeFailed(str(error), "TemplateError") from None
        return NodeResult({"output": output}, inputs=values)
