"""Variable aggregator (``variable-assigner`` in old DSL): the first of its variables that
has a value (the one from the branch that ran), alone or per group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeResult
from plait.engine.variables import MISSING, Selector, VariablePool, as_selector


class Group(BaseModel):
    model_config = ConfigDict(extra="allow")

    group_name: str
    output_type: str | None = None
    variables: list[list[str]] = []


class AdvancedSettings(BaseModel):
    model_config = ConfigDict(extra="allow")

    group_enabled: bool = False
    groups: list[Group] = []


class VariableAggregatorConfig(NodeConfig):
    output_type: str | None = None
    variables: list[list[str]] = []
    advanced_settings: AdvancedSettings | None = None


def _first(selectors: list[list[str]], pool: VariablePool) -> Any:
    for selector in selectors:
        value = pool.get(selector)
        if value is not MISSING and value is not None:
            return value
    return None


class VariableAggregatorNode(Node):
    node_type = "variable-aggregator"
    Config = VariableAggregatorConfig
    config: VariableAggregatorConfig

    def _grouped(self) -> bool:
        settings = self.config.advanced_settings
        return bool(settings and settings.group_enabled)

    def references(self) -> Sequence[Selector]:
        lists = [self.config.variables]
        if self._grouped() and self.config.advanced_settings:
            lists = [group.variables for group in self.config.advanced_settings.groups]
        return [as_selector(selector) for selectors in lists for selector in selectors if selector]

    def output_names(self) -> Sequence[str] | None:
        if self._grouped() and self.config.advanced_settings:
            return [group.group_name for group in self.config.advanced_settings.groups]
        return ["output"]

    async def run(self, ctx: NodeContext) -> NodeResult:
        if self._grouped() and self.config.advanced_settings:
            outputs = {
                group.group_name: {"output": _first(group.variables, ctx.pool)}
                for group in self.config.advanced_settings.groups
            }
            return NodeResult(outputs)
        return NodeResult({"output": _first(self.config.variables, ctx.pool)})
