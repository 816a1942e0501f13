"""Arguments are coerced the way a workflow's strings need, then validated with clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from plait.tools import FunctionTool, ToolArgumentError, ToolDefinitionError, ToolOutput
from plait.tools.arguments import ArgumentSchema

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "count": {"type": "integer", "minimum": 1},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean", "default": False},
        "unit": {"type": "string", "enum": ["cm", "in"], "default": "cm"},
        "note": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "options": {"type": "object", "properties": {"depth": {"type": "integer"}}},
    },
    "required": ["count"],
}


def check(arguments: dict[str, Any]) -> dict[str, Any]:
    return ArgumentSchema("measure", SCHEMA, aliases={"amount": "count"}).check(arguments)


def test_workflow_strings_become_the_declared_types() -> None:
    checked = check(
        {"count": "3", "ratio": "0.5", "flag": "true", "note": 7, "tags": '["a", "b"]', "options": '{"depth": 2}'}
    )
    assert checked == {
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "unit": "cm",
        "note": "7",
        "tags": ["a", "b"],
        "options": {"depth": 2},
    }


def test_integral_floats_are_integers_and_objects_become_json_text() -> None:
    assert check({"count": 2.0, "note": {"a": 1}})["count"] == 2
    assert check({"count": 1, "note": {"a": 1}})["note"] == '{"a": 1}'


def test_empty_optional_values_are_absent_and_take_the_default() -> None:
    assert check({"count": 1, "flag": "", "unit": None, "ratio": ""}) == {"count": 1, "flag": False, "unit": "cm"}


def test_an_alias_is_the_canonical_name_and_loses_to_it() -> None:
    assert check({"amount": "4"})["count"] == 4
    assert check({"amount": "4", "count": 5})["count"] == 5


def test_unknown_arguments_pass_through() -> None:
    assert check({"count": 1, "ensure_ascii": True})["ensure_ascii"] is True


@pytest.mark.parametrize(
    ("arguments", "parameter", "message"),
    [
        ({}, "count", "parameter 'count' is required"),
        ({"count": None}, "count", "parameter 'count' is required"),
        ({"count": "three"}, "count", "parameter 'count' must be an integer, not a string"),
        ({"count": 0}, "count", "parameter 'count' must be at least 1; got 0"),
        ({"count": 1, "unit": "mm"}, "unit", 'parameter \'unit\' must be one of "cm", "in"; got "mm"'),
        ({"count": 1, "flag": "maybe"}, "flag", "parameter 'flag' must be a boolean, not a string"),
        ({"count": 1, "tags": ["a", 2]}, "tags", "parameter 'tags[1]' must be a string, not an integer"),
        ({"count": 1, "options": {"depth": "x"}}, "options", "parameter 'options.depth' must be an integer"),
    ],
)
def test_bad_arguments_name_the_parameter(arguments: dict[str, Any], parameter: str, message: str) -> None:
    with pytest.raises(ToolArgumentError) as raised:
        check(arguments)
    assert raised.value.parameter == parameter
    assert raised.value.message.startswith("tool 'measure': ")
    assert message in raised.value.message


def test_arguments_must_be_an_object() -> None:
    with pytest.raises(ToolArgumentError, match="arguments must be an object, got an array"):
        ArgumentSchema("t", SCHEMA).check([1, 2])  # type: ignore[arg-type]


def test_a_long_bad_value_is_clipped_in_the_message() -> None:
    with pytest.raises(ToolArgumentError) as raised:
        check({"count": 1, "unit": "x" * 500})
    assert len(raised.value.message) < 200


def test_an_invalid_schema_is_a_definition_error() -> None:
    with pytest.raises(ToolDefinitionError, match="parameters schema is invalid"):
        ArgumentSchema("t", {"type": "object", "properties": {"a": {"type": "integr"}}})
    with pytest.raises(ToolDefinitionError, match="must describe an object"):
        ArgumentSchema("t", {"type": "string"})


def test_references_outside_the_schema_are_never_fetched() -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "https://schemas.example.com/a.json"}}}
    with pytest.raises(ToolDefinitionError, match="reference that does not resolve"):
        ArgumentSchema("t", schema).check({"a": 1})
    local = {"type": "object", "$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}}
    with pytest.raises(ToolArgumentError, match="must be an integer"):
        ArgumentSchema("t", local).check({"a": "x"})


async def test_invoke_checks_before_the_tool_runs() -> None:
    calls: list[dict[str, Any]] = []

    async def run(arguments: dict[str, Any]) -> ToolOutput:
        calls.append(arguments)
        return ToolOutput(text=str(arguments["count"]))

    tool = FunctionTool("measure", "Measure.", SCHEMA, run)
    with pytest.raises(ToolArgumentError):
        await tool.invoke({"count": "none"})
    assert calls == []
    assert (await tool.invoke({"count": "2"})).text == "2"
    assert calls == [{"count": 2, "flag": False, "unit": "cm"}]
