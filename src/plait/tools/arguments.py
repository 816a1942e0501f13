"""Checking a tool's arguments against its JSON Schema before the tool runs.

Arguments arrive from two places: a model's function call (typed JSON) and a workflow's
tool node, whose values are mostly strings (a ``mixed`` template renders to text, a
``constant`` may be ``"2024"``). So, as Dify does, top-level values are first coerced to
the declared type where that is unambiguous (``"2024"`` for an integer, ``"true"`` for a
boolean, ``7`` for a string, a JSON text for an object); empty values (None, and ``""``
where a string is not allowed) count as absent; declared defaults are filled in. Then the
whole is validated with ``jsonschema``; the first error becomes a
:class:`~plait.tools.errors.ToolArgumentError` naming the parameter.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # (no stubs are published for it)
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match  # type: ignore[import-untyped]
from referencing import Registry
from referencing.exceptions import Unresolvable

from plait.tools.errors import ToolArgumentError, ToolDefinitionError

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
_SHOWN = 80  # characters of a bad value quoted back in a message


class ArgumentSchema:
    """A tool's parameters schema, compiled once; :meth:`check` returns the arguments to run with.

    ``aliases`` maps another name for a parameter to its name in the schema (Dify 1.x
    renamed some parameters; DSL files use both). The schema shown to a model has only
    the canonical names.
    """

    def __init__(self, tool: str, schema: Mapping[str, Any], *, aliases: Mapping[str, str] | None = None) -> None:
        if schema.get("type", "object") != "object":
            raise ToolDefinitionError(f"tool {tool!r}: the parameters schema must describe an object", path="type")
        validator_class = jsonschema.validators.validator_for(schema, default=Draft202012Validator)
        try:
            validator_class.check_schema(schema)
        except jsonschema.SchemaError as error:
            where = "/".join(str(part) for part in error.absolute_path)
            raise ToolDefinitionError(
                f"tool {tool!r}: the parameters schema is invalid: {_clip(error.message, 200)}", path=where or None
            ) from None
        self.tool = tool
        self.schema = schema
        self.aliases = dict(aliases or {})
        # An empty registry: a "$ref" to anything outside the schema is never fetched.
        self._validator = validator_class(schema, registry=Registry())
        properties = schema.get("properties", {})
        self._properties: Mapping[str, Any] = properties if isinstance(properties, Mapping) else {}

    def check(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(arguments, Mapping):
            raise ToolArgumentError(f"tool {self.tool!r}: arguments must be an object, got {_kind(arguments)}")
        checked: dict[str, Any] = {}
        for key, value in arguments.items():
            name = self.aliases.get(key, key)
            if name != key and name in arguments:
                continue  # the canonical name wins over its alias
            prop = self._properties.get(name)
            if not isinstance(prop, Mapping):
                checked[name] = value
                continue
            if _is_empty(value, prop):
                continue  # absent: the default applies, or "is required" says what is missing
            checked[name] = coerce(value, prop)
        for name, prop in self._properties.items():
            if name not in checked and isinstance(prop, Mapping) and "default" in prop:
                checked[name] = copy.deepcopy(prop["default"])
        try:
            error = best_match(self._validator.iter_errors(checked))
        except Unresolvable as unresolvable:
            raise ToolDefinitionError(
                f"tool {self.tool!r}: its parameters schema has a reference that does not resolve: {unresolvable}"
            ) from None
        if error is not None:
            raise self._argument_error(error)
        return checked

    def _argument_error(self, error: ValidationError) -> ToolArgumentError:
        path = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, Mapping):
            missing = [name for name in error.validator_value if name not in error.instance]
            field = [*path, *missing[:1]]
            return ToolArgumentError(
                f"tool {self.tool!r}: parameter {_location(field)!r} is required",
                parameter=str(field[0]) if field else None,
            )
        if not path:
            return ToolArgumentError(f"tool {self.tool!r}: {_clip(error.message, 200)}")
        where = _location(path)
        return ToolArgumentError(f"tool {self.tool!r}: parameter {where!r} {_explain(error)}", parameter=str(path[0]))


def coerce(value: Any, prop: Mapping[str, Any]) -> Any:
    """``value`` converted to the type ``prop`` declares, where one reading is obvious; else as given."""
    declared = prop.get("type")
    types = {declared} if isinstance(declared, str) else set(declared) if isinstance(declared, list) else set()
    if not types or _matches(value, types):
        return value
    if isinstance(value, str):
        return _from_text(value, types)
    if isinstance(value, bool):
        return ("true" if value else "false") if "string" in types else value
    if isinstance(value, int | float):
        if "integer" in types and isinstance(value, float) and value.is_integer():
            return int(value)
        if "string" in types:
            return str(value)
        if "boolean" in types and value in (0, 1):
            return bool(value)
        return value
    if isinstance(value, dict | list) and "string" in types:
        return json.dumps(value, ensure_ascii=False)
    return value


def _from_text(text: str, types: set[str]) -> Any:
    stripped = text.strip()
    if "integer" in types or "number" in types:
        number = _number(stripped)
        if number is not None and "number" in types:
            return number
        if number is not None and (isinstance(number, int) or number.is_integer()):
            return int(number)
    if "boolean" in types and stripped.lower() in _TRUE | _FALSE:
        return stripped.lower() in _TRUE
    if "object" in types or "array" in types:
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return text
        if _matches(parsed, types):
            return parsed
    if "null" in types and stripped.lower() in ("", "null"):
        return None
    return text


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _matches(value: Any, types: set[str]) -> bool:
    checks = {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "null": value is None,
    }
    return any(checks.get(name, False) for name in types)


def _is_empty(value: Any, prop: Mapping[str, Any]) -> bool:
    """None always; "" only where the parameter cannot be a string (an unset number field)."""
    if value is None:
        return True
    declared = prop.get("type")
    accepts_text = declared is None or declared == "string" or (isinstance(declared, list) and "string" in declared)
    return value == "" and not accepts_text


def _explain(error: ValidationError) -> str:
    got = f"; got {_shown(error.instance)}"
    if error.validator == "type":
        expected = error.validator_value
        names = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return f"must be {_article(names)} {names}, not {_kind(error.instance)}"
    if error.validator == "enum":
        return f"must be one of {', '.join(_shown(option) for option in error.validator_value)}{got}"
    if error.validator == "const":
        return f"must be {_shown(error.validator_value)}{got}"
    bounds = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "above", "exclusiveMaximum": "below"}
    if error.validator in bounds:
        return f"must be {bounds[str(error.validator)]} {error.validator_value}{got}"
    if error.validator in ("minLength", "maxLength", "minItems", "maxItems"):
        return f"violates {error.validator} {error.validator_value}"
    if error.validator == "pattern":
        return f"must match the pattern {error.validator_value!r}{got}"
    return f"is invalid: {_clip(error.message, 200)}"


def _location(path: list[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    return names.get(type(value), type(value).__name__)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return _clip(text, _SHOWN)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
