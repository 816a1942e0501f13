"""Code: the author's ``main`` in Python or JavaScript, run by the code sandbox (a separate,
locked-down process; never the server), its result checked against the declared outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.variables import MISSING, Selector, as_selector
from plait.errors import PlaitError

LANGUAGES = ("python3", "javascript")


class CodeVariable(BaseModel):
    model_config = ConfigDict(extra="allow")

    variable: str
    value_selector: list[str] = []


class OutputSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "string"
    children: Any = None


class CodeConfig(NodeConfig):
    code_language: str = "python3"
    code: str = ""
    variables: list[CodeVariable] = []
    outputs: dict[str, OutputSpec] = {}


def _matches(value: Any, kind: str) -> bool:
    if value is None:
        return True
    scalar = {
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
    }
    if kind in scalar:
        return bool(scalar[kind](value))
    if kind.startswith("array"):
        if not isinstance(value, list):
            return False
        inner = kind[len("array[") : -1] if kind.startswith("array[") else ""
        return not inner or inner not in scalar or all(_matches(item, inner) for item in value)
    return True


class CodeNode(Node):
    node_type = "code"
    Config = CodeConfig
    config: CodeConfig

    def references(self) -> Sequence[Selector]:
        return [as_selector(variable.value_selector) for variable in self.config.variables if variable.value_selector]

    def output_names(self) -> Sequence[str] | None:
        return list(self.config.outputs) or None

    async def run(self, ctx: NodeContext) -> NodeResult:
        language = self.config.code_language
        if language not in LANGUAGES:
            raise NodeFailed(
                f"code language {language!r} is not supported (use python3 or javascript)", "CodeNodeError"
            )
        if ctx.services.code is None:
            raise NodeFailed("code execution is not available in this run", "CodeNodeError")
        inputs = {}
        for variable in self.config.variables:
            value = ctx.pool.get(variable.value_selector) if variable.value_selector else MISSING
            inputs[variable.variable] = None if value is MISSING else value
        try:
            result = await ctx.services.code.run(language, self.config.code, inputs)
        except PlaitError as error:
            raise NodeFailed(error.message, "CodeNodeError") from None
        if not self.config.outputs:
            return NodeResult(dict(result), inputs=inputs)
        outputs = {}
        for name, spec in self.config.outputs.items():
            if name not in result:
                raise NodeFailed(f"main() returned no {name!r}, which the node declares as an output", "CodeNodeError")
            if not _matches(result[name], spec.type):
                raise NodeFailed(
                    f"output {name!r} must be {spec.type}, got {type(result[name]).__name__}", "CodeNodeError"
                )
            outputs[name] = result[name]
        return NodeResult(outputs, inputs=inputs)
