"""Loop: run the child graph round after round, on loop variables, until a break condition
holds, a loop-end node is reached, or ``loop_count`` rounds have run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine import conditions
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.nodes.if_else import Condition, evaluate
from plait.engine.runtime_markers import LOOP_END
from plait.engine.variables import MISSING, Selector, as_selector
from plait.events import LoopCompleted, LoopNext, LoopStarted

MAX_LOOP_COUNT = 1000


class LoopVariable(BaseModel):
    model_config = ConfigDict(extra="allow")

    label: str
    var_type: str = "string"
    value_type: str = "constant"
    value: Any = None


class LoopConfig(NodeConfig):
    loop_count: int = 10
    break_conditions: list[Condition] = []
    logical_operator: str = "and"
    loop_variables: list[LoopVariable] = []
    start_node_id: str | None = None


def _typed(value: Any, var_type: str) -> Any:
    """A constant loop variable as its declared type: the editor stores them as text."""
    if not isinstance(value, str):
        return value
    if var_type == "number":
        try:
            return int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            return value
    if var_type.startswith(("array", "object")):
        try:
            return json.loads(value) if value.strip() else ([] if var_type.startswith("array") else {})
        except json.JSONDecodeError:
            raise NodeFailed(f"loop variable value {value!r} is not valid JSON for {var_type}", "LoopError") from None
    if var_type == "boolean":
        return value.strip().lower() == "true"
    return value


class LoopNode(Node):
    node_type = "loop"
    Config = LoopConfig
    config: LoopConfig
    is_container = True

    def references(self) -> Sequence[Selector]:
        return [
            as_selector(variable.value)
            for variable in self.config.loop_variables
            if variable.value_type == "variable" and isinstance(variable.value, list) and variable.value
        ]

    def _should_break(self, ctx: NodeContext) -> bool:
        results = [evaluate(condition, ctx.pool) for condition in self.config.break_conditions]
        return bool(results) and conditions.combine(results, self.config.logical_operator)

    async def run(self, ctx: NodeContext) -> NodeResult:
        values: dict[str, Any] = {}
        for variable in self.config.loop_variables:
            if variable.value_type == "variable" and isinstance(variable.value, list):
                value = ctx.pool.get(variable.value)
                values[variable.label] = None if value is MISSING else value
            else:
                values[variable.label] = _typed(variable.value, variable.var_type)
        ctx.pool.set_outputs(self.id, values)
        ctx.emit(LoopStarted(self.id, self.title, dict(values)))
        count = min(max(self.config.loop_count, 1), MAX_LOOP_COUNT)
        rounds = 0
        for index in range(count):
            if index:
                ctx.emit(LoopNext(self.id, index))
            try:
                child_outputs = await ctx.run_subgraph(self.id, ctx.pool)
            except Exception as error:
                ctx.emit(LoopCompleted(self.id, None, "failed", str(error), rounds))
                raise NodeFailed(f"loop round {index} failed: {error}", "LoopError") from error
            rounds += 1
            if child_outputs.get(LOOP_END) or self._should_break(ctx):
                break
        outputs = {label: ctx.pool.get((self.id, label)) for label in values}
        ctx.emit(LoopCompleted(self.id, outputs, "succeeded", steps=rounds))
        return NodeResult(outputs, metadata={"loop_length": rounds})
