"""Parameter extractor: the model reads the input and fills the declared parameters.

The model is asked for a JSON object; values are checked against the declared types.
``__is_success`` and ``__reason`` say whether extraction worked, as in Dify. (Function-
calling models will get the function-call mode once tool-calling providers exist.)"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine import templates
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeResult
from plait.engine.nodes.model_call import complete, first_json_object, usage_dict
from plait.engine.variables import MISSING, Selector, as_selector, to_text
from plait.providers.base import ChatMessage


class Parameter(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    type: str = "string"
    description: str = ""
    required: bool = False
    options: list[str] | None = None


class ParameterExtractorConfig(NodeConfig):
    query: list[str] = []
    model: dict[str, Any] = {}
    parameters: list[Parameter] = []
    instruction: str = ""
    reasoning_mode: str = "prompt"


def _coerce(parameter: Parameter, value: Any) -> Any:
    kind = parameter.type
    if value is None:
        return None
    if kind == "number":
        if isinstance(value, bool):
            raise ValueError("a number")
        return value if isinstance(value, int | float) else float(str(value))
    if kind in ("bool", "boolean"):
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise ValueError("true or false")
    if kind.startswith("array"):
        if not isinstance(value, list):
            raise ValueError("an array")
        return value
    if kind == "select" and parameter.options and value not in parameter.options:
        raise ValueError(f"one of {parameter.options}")
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class ParameterExtractorNode(Node):
    node_type = "parameter-extractor"
    Config = ParameterExtractorConfig
    config: ParameterExtractorConfig

    def references(self) -> Sequence[Selector]:
        found = [as_selector(self.config.query)] if self.config.query else []
        return found + templates.references(self.config.instruction)

    def output_names(self) -> Sequence[str]:
        return [parameter.name for parameter in self.config.parameters] + ["__is_success", "__reason", "__usage"]

    async def run(self, ctx: NodeContext) -> NodeResult:
        query = ctx.pool.get(self.config.query)
        query_text = to_text(None if query is MISSING else query)
        schema = {
            parameter.name: {
                "type": parameter.type,
                "description": parameter.description,
                "required": parameter.required,
            }
            for parameter in self.config.parameters
        }
        instruction = templates.render(templates.parse(self.config.instruction), ctx.pool)
        system = (
            "Extract these parameters from the user's input and reply with one JSON object only, "
            f"using null for anything absent:\n{json.dumps(schema, ensure_ascii=False)}\n{instruction}"
        )
        reply, usage = await complete(
            ctx, self.config.model, [ChatMessage("system", system), ChatMessage("user", query_text)]
        )
        parsed = first_json_object(reply)
        outputs: dict[str, Any] = {parameter.name: None for parameter in self.config.parameters}
        problems: list[str] = []
        if parsed is None:
            problems.append("the model's reply held no JSON object")
        else:
            for parameter in self.config.parameters:
                try:
                    outputs[parameter.name] = _coerce(parameter, parsed.get(parameter.name))
                except (TypeError, ValueError) as error:
                    problems.append(f"{parameter.name} must be {error}")
                if parameter.required and outputs[parameter.name] is None:
                    problems.append(f"{parameter.name} is required but missing")
        outputs.update({"__is_success": 0 if problems else 1, "__reason": "; ".join(problems) or None})
        outputs["__usage"] = usage_dict(usage)
        return NodeResult(outputs, inputs={"query": query_text}, process_data={"reply": reply})
