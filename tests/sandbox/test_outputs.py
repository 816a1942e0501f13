"""Dify's output limits, checked on the server side of the boundary."""

from __future__ import annotations

import pytest

from plait.errors import ConfigurationError
from plait.sandbox import CodeSandbox, InvalidCodeOutput, SandboxLimits
from plait.sandbox.output import validate_outputs

from .conftest import needs_node

LIMITS = SandboxLimits()


def _nested(levels: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"s": "x" * 400_001}, "'s' is a string of 400001 characters; the limit is 400000"),
        ({"a": ["x"] * 31}, "'a' is an array of 31 strings or objects; the limit is 30"),
        ({"a": [{"k": 1}] * 31}, "the limit is 30"),
        ({"a": list(range(1001))}, "'a' is an array of 1001 numbers; the limit is 1000"),
        ({"n": 2**63}, "64-bit"),
        (_nested(6), "nested more than 5 levels"),
        ({"a": [[[[[1]]]]]}, "nested more than 5 levels"),
        ("text", "must return a dict"),
        (None, "not null"),
    ],
)
def test_limits_are_dify_s(value: object, match: str) -> None:
    with pytest.raises(InvalidCodeOutput, match=match):
        validate_outputs(value, LIMITS)


def test_values_at_the_limits_pass() -> None:
    value = {"s": "x" * 400_000, "a": ["x"] * 30, "n": list(range(1000)), "deep": _nested(4), "i": -(2**63)}
    assert validate_outputs(value, LIMITS) == value


def test_limits_are_parameters() -> None:
    small = SandboxLimits(max_string_length=3, max_array_items=2, max_number_array_items=2, max_depth=2)
    with pytest.raises(InvalidCodeOutput):
        validate_outputs({"s": "abcd"}, small)
    with pytest.raises(InvalidCodeOutput):
        validate_outputs({"a": [1, 2, 3]}, small)
    with pytest.raises(InvalidCodeOutput):
        validate_outputs(_nested(3), small)
    with pytest.raises(ConfigurationError):
        SandboxLimits(cpu_seconds=0)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("return {'x': object()}", "not JSON serializable"),
        ("return {'x': {1, 2}}", "not JSON serializable"),
        ("return {'x': float('nan')}", "Out of range float"),
        ("return {'x': 'y' * 400_001}", "400001 characters"),
        ("return {'x': ['s'] * 31}", "31 strings"),
        ("d = {}\n    d['self'] = d\n    return d", "Circular reference"),
    ],
)
async def test_invalid_python_outputs(sandbox: CodeSandbox, body: str, match: str) -> None:
    with pytest.raises(InvalidCodeOutput, match=match):
        await sandbox.run("python3", f"def main():\n    {body}", {})


@needs_node
@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("return 42;", "must return a dict"),
        ("return undefined;", "not undefined"),
        ("return {x: 10n};", "BigInt"),
        ("const d = {}; d.self = d; return d;", "circular"),
        ("return {x: 'y'.repeat(400001)};", "400001 characters"),
    ],
)
async def test_invalid_javascript_outputs(sandbox: CodeSandbox, body: str, match: str) -> None:
    with pytest.raises(InvalidCodeOutput, match=match):
        await sandbox.run("javascript", f"function main() {{ {body} }}", {})
