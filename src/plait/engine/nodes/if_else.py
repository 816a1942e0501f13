"""If-else: the first case whose conditions hold selects its branch; otherwise ``false``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from plait.engine import conditions, templates
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.variables import Selector, VariablePool, as_selector

ELSE_HANDLE = "false"


class Condition(BaseModel):
    model_config = ConfigDict(extra="allow")

    variable_selector: list[str] = []
    comparison_operator: str
    value: Any = None
    varType: str | None = None

    @model_validator(mode="after")
    def _known_operator(self) -> Condition:
        if conditions.operator(self.comparison_operator) is None:
            raise ValueError(f"unknown comparison operator {self.comparison_operator!r}")
        return self


class Case(BaseModel):
    model_config = ConfigDict(extra="allow")

    case_id: str
    logical_operator: str = "and"
    conditions: list[Condition] = []


class IfElseConfig(NodeConfig):
    cases: list[Case] | None = None
    # Before cases existed (DSL < 0.1.x), one implicit case: handle "true".
    conditions: list[Condition] | None = None
    logical_operator: str = "and"

    def all_cases(self) -> list[Case]:
        if self.cases is not None:
            return self.cases
        return [Case(case_id="true", logical_operator=self.logical_operator, conditions=self.conditions or [])]


def evaluate(condition: Condition, pool: VariablePool) -> bool:
    actual = pool.get(condition.variable_selector)
    expected = condition.value
    if isinstance(expected, str) and "{{#" in expected:
        expected = templates.render(templates.parse(expected), pool)
    compare = conditions.operator(condition.comparison_operator)
    if compare is None:  # rejected at compile time; kept for type narrowing
        raise NodeFailed(f"unknown comparison operator {condition.comparison_operator!r}")
    return compare(actual, expected)


class IfElseNode(Node):
    node_type = "if-else"
    Config = IfElseConfig
    config: IfElseConfig
    is_branch = True

    def references(self) -> Sequence[Selector]:
        found: list[Selector] = []
        for case in self.config.all_cases():
            for condition in case.conditions:
                if condition.variable_selector:
                    found.append(as_selector(condition.variable_selector))
                if isinstance(condition.value, str):
                    found.extend(templates.references(condition.value))
        return found

    def branch_handles(self) -> Sequence[str]:
        return [case.case_id for case in self.config.all_cases()] + [ELSE_HANDLE]

    def output_names(self) -> Sequence[str]:
        return ["result", "selected_case_id"]

    async def run(self, ctx: NodeContext) -> NodeResult:
        for case in self.config.all_cases():
            results = [evaluate(condition, ctx.pool) for condition in case.conditions]
            if results and conditions.combine(results, case.logical_operator):
                return NodeResult({"result": True, "selected_case_id": case.case_id}, handles=(case.case_id,))
        return NodeResult({"result": False, "selected_case_id": ELSE_HANDLE}, handles=(ELSE_HANDLE,))
