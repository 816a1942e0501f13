"""List operator: filter, sort, slice and pick from an array."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine import conditions
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.variables import MISSING, Selector, as_selector


class FilterCondition(BaseModel):
    model_config = ConfigDict(extra="allow")

    key: str = ""
    comparison_operator: str
    value: Any = None


class FilterBy(BaseModel):
    model_config = ConfigDict(extra="allow")

    enabled: bool = False
    conditions: list[FilterCondition] = []


class OrderBy(BaseModel):
    model_config = ConfigDict(extra="allow")

    enabled: bool = False
    key: str = ""
    value: str = "asc"


class Limit(BaseModel):
    model_config = ConfigDict(extra="allow")

    enabled: bool = False
    size: int = -1


class ExtractBy(BaseModel):
    model_config = ConfigDict(extra="allow")

    enabled: bool = False
    serial: str = "1"


class ListOperatorConfig(NodeConfig):
    variable: list[str] = []
    filter_by: FilterBy = FilterBy()
    order_by: OrderBy = OrderBy()
    limit: Limit = Limit()
    extract_by: ExtractBy = ExtractBy()


def _field(item: Any, key: str) -> Any:
    if not key:
        return item
    if isinstance(item, dict):
        return item.get(key)
    return getattr(item, key, None)


class ListOperatorNode(Node):
    node_type = "list-operator"
    Config = ListOperatorConfig
    config: ListOperatorConfig

    def references(self) -> Sequence[Selector]:
        return [as_selector(self.config.variable)] if self.config.variable else []

    def output_names(self) -> Sequence[str]:
        return ["result", "first_record", "last_record"]

    async def run(self, ctx: NodeContext) -> NodeResult:
        items = ctx.pool.get(self.config.variable)
        if items is MISSING or items is None:
            items = []
        if not isinstance(items, list):
            raise NodeFailed(f"list operator input must be an array, got {type(items).__name__}", "ListOperatorError")
        result = list(items)
        if self.config.filter_by.enabled:
            for condition in self.config.filter_by.conditions:
                compare = conditions.operator(condition.comparison_operator)
                if compare is None:
                    raise NodeFailed(f"unknown comparison operator {condition.comparison_operator!r}")
                result = [item for item in result if compare(_field(item, condition.key), condition.value)]
        if self.config.extract_by.enabled:
            position = int(self.config.extract_by.serial or 1)
            if not 1 <= position <= len(result):
                raise NodeFailed(f"cannot take item {position} of a list of {len(result)}", "ListOperatorError")
            result = [result[position - 1]]
        if self.config.order_by.enabled:
            key = self.config.order_by.key
            result.sort(
                key=lambda item: (_field(item, key) is None, _field(item, key)),
                reverse=self.config.order_by.value == "desc",
            )
        if self.config.limit.enabled and self.config.limit.size >= 0:
            result = result[: self.config.limit.size]
        outputs = {
            "result": result,
            "first_record": result[0] if result else None,
            "last_record": result[-1] if result else None,
        }
        return NodeResult(outputs, inputs={"variable": items})
