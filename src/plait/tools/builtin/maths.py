"""The ``maths`` built-in: ``eval_expression``, arithmetic evaluated over Python's ``ast``.

Only numbers, ``+ - * / // % **``, unary signs, parentheses, the constants ``pi`` and
``e`` and the functions in :data:`FUNCTIONS` are accepted: no names, attributes,
subscripts or anything else Python could do with them, so an expression from a model or a
user cannot reach the interpreter. Sizes are bounded before they are computed, because a
short expression can ask for a huge number (``9**9**9`` has 370 million digits): an
expression's length, an integer's size in bits, and powers whose result would pass it.
The text of the result is Dify's: ``The result of the expression "2+3" is 5``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from plait.tools.base import FunctionTool, StaticToolProvider, ToolEnvironment, ToolOutput
from plait.tools.errors import ToolArgumentError

Number = int | float

MAX_EXPRESSION = 1_000  # characters
MAX_INT_BITS = 4_096  # about 1,233 decimal digits

FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "log": math.log,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


class ExpressionError(ValueError):
    """The expression is not arithmetic Plait evaluates, or its value is out of bounds."""


def provider(environment: ToolEnvironment) -> StaticToolProvider:
    del environment
    return StaticToolProvider(
        "maths",
        [
            FunctionTool(
                "eval_expression",
                "Evaluate an arithmetic expression, like (2 + 3) * sqrt(16) / 4. "
                f"Operators + - * / // % **; functions {', '.join(FUNCTIONS)}; constants pi and e.",
                {
                    "type": "object",
                    "properties": {"expression": {"type": "string", "description": "The expression to evaluate."}},
                    "required": ["expression"],
                },
                eval_expression,
                label="Evaluate Expression",
            )
        ],
        label="Maths",
        description="A calculator for arithmetic expressions.",
    )


def eval_expression(arguments: dict[str, Any]) -> ToolOutput:
    expression = arguments["expression"].strip()
    try:
        value = evaluate(expression)
    except ExpressionError as error:
        raise ToolArgumentError(f"tool 'eval_expression': {error}", parameter="expression") from None
    return ToolOutput(text=f'The result of the expression "{expression}" is {value}', variables={"result": value})


def evaluate(expression: str) -> Number:
    if not expression:
        raise ExpressionError("the expression is empty")
    if len(expression) > MAX_EXPRESSION:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"{expression!r} is not an arithmetic expression ({error.msg})") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply") from None
    try:
        value = _value(tree.body)
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply") from None
    except ZeroDivisionError:
        raise ExpressionError("division by zero") from None
    except OverflowError:
        raise ExpressionError("the result is too large") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError("the result is not a finite number")
    return value


def _value(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError(f"{node.value!r} is not a number")
        return _bounded(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        operand = _value(node.operand)
        return operand if isinstance(node.op, ast.UAdd) else -operand
    if isinstance(node, ast.BinOp):
        return _binary(node)
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        hint = " (call it with parentheses)" if node.id in FUNCTIONS else ""
        raise ExpressionError(f"unknown name {node.id!r}{hint}; the constants are pi and e")
    if isinstance(node, ast.Call):
        return _call(node)
    raise ExpressionError(f"{_describe(node)} is not allowed in an arithmetic expression")


def _binary(node: ast.BinOp) -> Number:
    if isinstance(node.op, ast.BitXor):
        raise ExpressionError("'^' is not a power here; write ** (2**3 is 8)")
    left, right = _value(node.left), _value(node.right)
    if isinstance(node.op, ast.Pow):
        return _power(left, right)
    function = _BINARY.get(type(node.op))
    if function is None:
        raise ExpressionError(f"the operator {_describe(node)} is not allowed; use + - * / // % **")
    return _bounded(function(left, right))


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int) and exponent >= 0:
        # The result has about exponent * log2|base| bits: refuse before computing it.
        if abs(base) > 1 and exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise ExpressionError(f"the result of {base}**{exponent} is too large")
        return _bounded(base**exponent)
    if base == 0 and exponent < 0:
        raise ZeroDivisionError
    result = float(base) ** float(exponent)
    if isinstance(result, complex):
        raise ExpressionError(f"{base}**{exponent} is not a real number")
    return _bounded(result)


def _call(node: ast.Call) -> Number:
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
        name = node.func.id if isinstance(node.func, ast.Name) else _describe(node.func)
        raise ExpressionError(f"unknown function {name!r}; the functions are {', '.join(FUNCTIONS)}")
    if node.keywords:
        raise ExpressionError(f"{node.func.id}() takes no named arguments")
    arguments = [_value(argument) for argument in node.args]  # a starred argument is refused here
    name = node.func.id
    if name == "round" and len(arguments) == 2 and not isinstance(arguments[1], int):
        raise ExpressionError("round()'s second argument must be a whole number of digits")
    if name == "round" and len(arguments) == 2 and abs(arguments[1]) > 100:
        raise ExpressionError("round() to more than 100 digits is not allowed")
    try:
        return _bounded(FUNCTIONS[name](*arguments))
    except TypeError:
        raise ExpressionError(f"{name}() was called with {len(arguments)} argument(s) it does not take") from None
    except ValueError:
        raise ExpressionError(f"{name}() is not defined for {', '.join(map(str, arguments))}") from None


def _bounded(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ExpressionError(f"an intermediate result has more than {MAX_INT_BITS} bits")
    return value


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access",
        ast.Subscript: "indexing",
        ast.Compare: "a comparison",
        ast.BoolOp: "'and'/'or'",
        ast.Lambda: "a lambda",
        ast.Starred: "'*' unpacking",
        ast.BitAnd: "'&'",
        ast.BitOr: "'|'",
        ast.LShift: "'<<'",
        ast.RShift: "'>>'",
        ast.MatMult: "'@'",
    }
    if isinstance(node, ast.BinOp):
        return names.get(type(node.op), type(node.op).__name__)
    return names.get(type(node), type(node).__name__)
