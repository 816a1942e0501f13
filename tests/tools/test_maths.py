"""The arithmetic evaluator: what it computes, and what it refuses (quickly)."""

from __future__ import annotations

import math
import time

import pytest

from plait.tools import ToolArgumentError, ToolEnvironment
from plait.tools.builtin import maths
from plait.tools.builtin.maths import ExpressionError, evaluate


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 % 3", 2),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("-(3 - 5)", 2),
        ("+4", 4),
        ("sqrt(16) + abs(-2)", 6.0),
        ("round(pi, 2)", 3.14),
        ("max(1, 5, 3) - min(4, 2)", 3),
        ("floor(2.7) + ceil(2.1)", 5),
        ("log(e)", 1.0),
        ("log(8, 2)", 3.0),
        ("round(sin(0) + cos(0) + tan(0), 6)", 1.0),
        ("1.5e3", 1500.0),
        ("2 ** 4000 // 2 ** 3999", 2),
    ],
)
def test_arithmetic(expression: str, value: float) -> None:
    result = evaluate(expression)
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("9**9**9", "too large"),
        ("10**10**10", "too large"),
        ("2**5000", "too large"),
        ("(2**4000) * (2**4000)", "more than 4096 bits"),
        ("10.0 ** 400", "too large"),
        ("1e308 * 10", "not a finite number"),
        ("1 / 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("5 % 0", "division by zero"),
        ("sqrt(-1)", r"sqrt\(\) is not defined for -1"),
        ("log(0)", r"log\(\) is not defined for 0"),
        ("(-8) ** 0.5", "not a real number"),
        ("2 ^ 3", "write \\*\\*"),
        ("x + 1", "unknown name 'x'"),
        ("sqrt", "call it with parentheses"),
        ("__import__('os')", "unknown function '__import__'"),
        ("(1).real", "attribute access"),
        ("[1, 2][0]", "indexing"),
        ("'a' * 3", "'a' is not a number"),
        ("True + 1", "True is not a number"),
        ("1 < 2", "a comparison"),
        ("1 << 2", "'<<'"),
        ("max(*[1, 2])", "unpacking"),
        ("round(1.5, ndigits=1)", "no named arguments"),
        ("round(1.5, 1000)", "more than 100 digits"),
        ("abs(1, 2)", r"abs\(\) was called with 2 argument"),
        ("1 +", "is not an arithmetic expression"),
        ("", "empty"),
        ("1+" * 600 + "1", "longer than 1000 characters"),
        ("(" * 300 + "1" + ")" * 300, "nested too deeply|not an arithmetic expression"),
    ],
)
def test_refusals(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        evaluate(expression)


def test_huge_powers_are_refused_before_they_are_computed() -> None:
    started = time.monotonic()
    for expression in ("9**9**9", "99999**99999", "2**2**2**2**2**2"):
        with pytest.raises(ExpressionError):
            evaluate(expression)
    assert time.monotonic() - started < 0.5


async def test_the_tool_speaks_dify_s_text_and_names_the_parameter() -> None:
    tool = maths.provider(ToolEnvironment()).tool("eval_expression")
    output = await tool.invoke({"expression": " 2 + 3 "})
    assert output.text == 'The result of the expression "2 + 3" is 5'
    assert output.variables == {"result": 5}
    assert math.isclose((await tool.invoke({"expression": "pi"})).variables["result"], math.pi)
    with pytest.raises(ToolArgumentError, match="tool 'eval_expression': division by zero") as raised:
        await tool.invoke({"expression": "1/0"})
    assert raised.value.parameter == "expression"
