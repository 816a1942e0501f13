"""Variable assigner: writes conversation variables (and loop variables) — v2's list of
operations, and v1's single over-write/append/clear."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.variables import MISSING, Selector, VariablePool, as_selector


class AssignItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    variable_selector: list[str] = []
    input_type: str = "variable"
    operation: str = "over-write"
    value: Any = None


class AssignerConfig(NodeConfig):
    version: str | None = None
    items: list[AssignItem] | None = None
    # v1
    assigned_variable_selector: list[str] | None = None
    write_mode: str | None = None
    input_variable_selector: list[str] | None = None

    def all_items(self) -> list[AssignItem]:
        if self.items is not None:
            return self.items
        if self.assigned_variable_selector:
            return [
                AssignItem(
                    variable_selector=self.assigned_variable_selector,
                    input_type="variable",
                    operation=self.write_mode or "over-write",
                    value=self.input_variable_selector,
                )
            ]
        return []


def _empty_like(current: Any) -> Any:
    if isinstance(current, str):
        return ""
    if isinstance(current, bool):
        return False
    if isinstance(current, int | float):
        return 0
    if isinstance(current, list):
        return []
    if isinstance(current, dict):
        return {}
    return None


def apply(operation: str, current: Any, value: Any) -> Any:
    if operation in ("over-write", "set"):
        return value
    if operation == "clear":
        return _empty_like(current)
    if operation == "append":
        return [*(current or []), value]
    if operation == "extend":
        return [*(current or []), *(value or [])]
    if operation == "remove-first":
        return list(current or [])[1:]
    if operation == "remove-last":
        return list(current or [])[:-1]
    arithmetic = {
        "+=": lambda a, b: a + b,
        "-=": lambda a, b: a - b,
        "*=": lambda a, b: a * b,
        "/=": lambda a, b: a / b,
    }
    if operation in arithmetic:
        try:
            result = arithmetic[operation](float(current or 0), float(value))
        except (TypeError, ValueError, ZeroDivisionError) as error:
            raise NodeFailed(f"cannot apply {operation} to {current!r} and {value!r}: {error}", "AssignError") from None
        integral = isinstance(current, int) and isinstance(value, int) and operation != "/="
        return int(result) if integral or (result.is_integer() and operation != "/=") else result
    raise NodeFailed(f"unknown operation {operation!r}", "AssignError")


def _coerce_loop_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value) if value.lstrip("-").isdigit() else float(value)
        except ValueError:
            return value
    return value


class AssignerNode(Node):
    node_type = "assigner"
    Config = AssignerConfig
    config: AssignerConfig

    def writes(self) -> list[Selector]:
        return [as_selector(item.variable_selector) for item in self.config.all_items() if item.variable_selector]

    def references(self) -> Sequence[Selector]:
        found = list(self.writes())
        for item in self.config.all_items():
            if item.input_type == "variable" and isinstance(item.value, list) and item.value:
                found.append(as_selector(item.value))
        return found

    def output_names(self) -> Sequence[str]:
        return []

    def _value(self, item: AssignItem, pool: VariablePool) -> Any:
        if item.input_type == "variable" and isinstance(item.value, list):
            value = pool.get(item.value)
            return None if value is MISSING else value
        return item.value

    async def run(self, ctx: NodeContext) -> NodeResult:
        updated = []
        for item in self.config.all_items():
            selector = as_selector(item.variable_selector)
            current = ctx.pool.get(selector)
            current = None if current is MISSING else _coerce_loop_number(current)
            value = apply(item.operation, current, self._value(item, ctx.pool))
            ctx.pool.set(selector, value)
            ctx.updated(selector, value)
            updated.append({"selector": list(selector), "value": value})
        return NodeResult({}, process_data={"updated_variables": updated})
