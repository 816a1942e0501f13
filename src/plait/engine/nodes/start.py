"""Start: the run's inputs, validated against the declared variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine.files import is_file
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.errors import InvalidInput


class StartVariable(BaseModel):
    model_config = ConfigDict(extra="allow")

    variable: str
    label: str | None = None
    type: str = "text-input"
    required: bool = False
    default: Any = None
    max_length: int | None = None
    options: list[Any] | None = None
    allowed_file_types: list[str] | None = None
    allowed_file_extensions: list[str] | None = None
    allowed_file_upload_methods: list[str] | None = None


class StartConfig(NodeConfig):
    variables: list[StartVariable] = []


def validate_inputs(
    variables: list[StartVariable], inputs: Mapping[str, Any], *, enforce_required: bool = True
) -> dict[str, Any]:
    """The inputs a run starts with: defaults applied, types checked. Raises
    :class:`InvalidInput` naming the variable, so the API can answer 400 before running.
    The engine itself does not insist on required inputs (Dify's engine does not either:
    its app layer does, before the run), so runs of bare graphs behave as in Dify."""
    values = dict(inputs)
    for declared in variables:
        name = declared.variable
        value = values.get(name)
        if value is None or value == "":
            if declared.default not in (None, ""):
                values[name] = declared.default
                continue
            if declared.required and enforce_required:
                raise InvalidInput(f"{name} is required in input form", params=name)
            values.setdefault(name, None if declared.type not in ("text-input", "paragraph", "select") else "")
            continue
        if declared.type in ("text-input", "paragraph", "select"):
            if not isinstance(value, str):
                raise InvalidInput(f"{name} in input form must be a string", params=name)
            if declared.max_length and len(value) > declared.max_length:
                raise InvalidInput(
                    f"{name} in input form must be at most {declared.max_length} characters", params=name
                )
            if declared.type == "select" and declared.options and value not in declared.options:
                raise InvalidInput(f"{name} in input form must be one of the options", params=name)
        elif declared.type == "number":
            if isinstance(value, bool):
                raise InvalidInput(f"{name} in input form must be a number", params=name)
            if isinstance(value, str):
                try:
                    value = float(value) if any(c in value for c in ".eE") else int(value)
                except ValueError:
                    raise InvalidInput(f"{name} in input form must be a number", params=name) from None
            if not isinstance(value, int | float):
                raise InvalidInput(f"{name} in input form must be a number", params=name)
            values[name] = value
        elif declared.type == "checkbox" and not isinstance(value, bool):
            raise InvalidInput(f"{name} in input form must be true or false", params=name)
        elif declared.type == "json_object" and not isinstance(value, dict):
            raise InvalidInput(f"{name} in input form must be a JSON object", params=name)
        elif declared.type == "file":
            if not is_file(value):
                raise InvalidInput(f"{name} in input form must be a file", params=name)
            _check_file(declared, value)
        elif declared.type == "file-list":
            if not isinstance(value, list) or not all(is_file(item) for item in value):
                raise InvalidInput(f"{name} in input form must be a list of files", params=name)
            for item in value:
                _check_file(declared, item)
    return values


def _check_file(declared: StartVariable, file: Mapping[str, Any]) -> None:
    """A file input's declared limits: its types (``custom`` means "by extension"), its
    extensions and how it may be sent."""
    name = declared.variable
    types = declared.allowed_file_types or []
    methods = declared.allowed_file_upload_methods or []
    if methods and file.get("transfer_method") not in methods:
        raise InvalidInput(f"{name} in input form cannot be sent as {file.get('transfer_method')}", params=name)
    if not types or file.get("type") in types:
        return
    extensions = {e.lower().lstrip(".") for e in declared.allowed_file_extensions or []}
    extension = str(file.get("extension") or "").lower().lstrip(".")
    if "custom" in types and extension in extensions:
        return
    raise InvalidInput(f"{name} in input form does not take files of type {file.get('type')}", params=name)


class StartNode(Node):
    node_type = "start"
    Config = StartConfig
    config: StartConfig

    def output_names(self) -> None:
        return None  # the declared variables, plus whatever else the caller passed

    async def run(self, ctx: NodeContext) -> NodeResult:
        try:
            values = validate_inputs(self.config.variables, ctx.pool.outputs(self.id), enforce_required=False)
        except InvalidInput as error:
            raise NodeFailed(error.message, "InputError") from None
        return NodeResult(values, inputs=values)
