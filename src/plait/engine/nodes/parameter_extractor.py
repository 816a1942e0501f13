"""Parameter extractor: the model reads the input and fills the declared parameters.

In ``function_call`` mode (Dify's default) a model that calls tools is given one tool whose
parameters are the declared ones and must call it; otherwise (``prompt`` mode, or a model
without tool calling) it is asked for a JSON object. Values are checked against the declared
types; ``__is_success`` and ``__reason`` say whether extraction worked, as in Dify."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine import templates
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeResult
from plait.engine.nodes.model_call import (
    complete,
    first_json_object,
    memory_messages,
    resolve_model,
    usage_metadata,
)
from plait.engine.variables import MISSING, Selector, as_selector, to_text
from plait.providers.base import ChatMessage, ToolDefinition

TOOL_NAME = "extract_parameters"


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
    reasoning_mode: str = "function_call"
    memory: dict[str, Any] | None = None


def _json_schema(parameter: Parameter) -> dict[str, Any]:
    kind = parameter.type
    if kind.startswith("array["):
        item = kind[len("array[") : -1]
        return {"type": "array", "items": _json_schema(Parameter(name="item", type=item))}
    if kind == "select":
        return {"type": "string", "enum": list(parameter.options or [])}
    if kind in ("bool", "boolean"):
        return {"type": "boolean"}
    if kind == "number":
        return {"type": "number"}
    if kind == "object":
        return {"type": "object"}
    return {"type": "string"}


def _coerce(parameter: Parameter, value: Any) -> Any:
    kind = parameter.type
    if value is None:
        return None
    if kind == "number":
        if isinstance(value, bool):
            raise ValueError("a number")
        if isinstance(value, int | float):
            return value
        try:
            return float(str(value))
        except ValueError:
            raise ValueError("a number") from None
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

    def _tool(self) -> ToolDefinition:
        properties = {
            parameter.name: {**_json_schema(parameter), "description": parameter.description}
            for parameter in self.config.parameters
        }
        required = [parameter.name for parameter in self.config.parameters if parameter.required]
        return ToolDefinition(
            TOOL_NAME,
            "Extract the parameters from the user's input.",
            {"type": "object", "properties": properties, "required": required},
        )

    async def run(self, ctx: NodeContext) -> NodeResult:
        query = ctx.pool.get(self.config.query)
        query_text = to_text(None if query is MISSING else query)
        instruction = templates.render(templates.parse(self.config.instruction), ctx.pool)
        model = await resolve_model(ctx, self.config.model)
        history = await memory_messages(ctx, self.config.memory)
        tool = self._tool()
        parsed: dict[str, Any] | None
        if self.config.reasoning_mode == "function_call" and model.capabilities.tool_calling:
            system = f"Extract the parameters from the user's input by calling {TOOL_NAME}.\n{instruction}"
            messages = [ChatMessage("system", system), *history, ChatMessage("user", query_text)]
            result, usage = await complete(
                ctx, self.config.model, messages, tools=[tool], tool_choice=TOOL_NAME, model=model
            )
            call = next((call for call in result.tool_calls if call.name == TOOL_NAME), None)
            try:
                parsed = call.parsed() if call is not None else first_json_object(result.text)
            except ValueError:
                parsed = None
            reply = call.arguments if call is not None else result.text
        else:
            system = (
                "Extract these parameters from the user's input and reply with one JSON object only, "
                f"using null for anything absent:\n{json.dumps(tool.parameters, ensure_ascii=False)}\n{instruction}"
            )
            messages = [ChatMessage("system", system), *history, ChatMessage("user", query_text)]
            result, usage = await complete(ctx, self.config.model, messages, model=model)
            parsed, reply = first_json_object(result.text), result.text
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
        outputs["__usage"] = usage
        return NodeResult(
            outputs,
            inputs={"query": query_text},
            process_data={"reply": reply, "mode": self.config.reasoning_mode, "usage": usage},
            metadata=usage_metadata(usage),
        )
