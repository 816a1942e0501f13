"""Comparison operators shared by if-else cases, loop break conditions and list filters.

Dify writes operators in words (``contains``, ``start with``, ``is``, ``empty``...) and in
symbols, Unicode (``≠ ≥ ≤``) or ASCII (``!= >= <=``); all are accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from plait.engine.variables import MISSING

Comparator = Callable[[Any, Any], bool]

ALIASES = {"!=": "≠", ">=": "≥", "<=": "≤", "==": "=", "starts with": "start with", "ends with": "end with"}


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return float(str(value).strip())


def _is_empty(actual: Any) -> bool:
    return actual is None or actual is MISSING or (hasattr(actual, "__len__") and len(actual) == 0)


def _contains(actual: Any, expected: Any) -> bool:
    if actual is None or actual is MISSING:
        return False
    if isinstance(actual, str):
        return str(expected) in actual
    if isinstance(actual, list | tuple):
        return expected in actual or str(expected) in [str(item) for item in actual]
    return False


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return str(actual).lower() == str(expected).lower()
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        try:
            return float(actual) == _number(expected)
        except (TypeError, ValueError):
            return False
    return actual == expected or str(actual) == str(expected)


def _in(actual: Any, expected: Any) -> bool:
    options = expected if isinstance(expected, list | tuple) else [expected]
    return actual in options or str(actual) in [str(option) for option in options]


def _all_of(actual: Any, expected: Any) -> bool:
    if not isinstance(actual, list | tuple):
        return False
    wanted = expected if isinstance(expected, list | tuple) else [expected]
    return all(item in actual for item in wanted)


def _numeric(test: Callable[[float, float], bool]) -> Comparator:
    def compare(actual: Any, expected: Any) -> bool:
        if actual is None or actual is MISSING:
            return False
        try:
            return test(_number(actual), _number(expected))
        except (TypeError, ValueError):
            return False

    return compare


OPERATORS: dict[str, Comparator] = {
    "contains": _contains,
    "not contains": lambda a, e: not _contains(a, e),
    "start with": lambda a, e: isinstance(a, str) and a.startswith(str(e)),
    "end with": lambda a, e: isinstance(a, str) and a.endswith(str(e)),
    "is": _equal,
    "is not": lambda a, e: not _equal(a, e),
    "empty": lambda a, _e: _is_empty(a),
    "not empty": lambda a, _e: not _is_empty(a),
    "in": _in,
    "not in": lambda a, e: not _in(a, e),
    "all of": _all_of,
    "=": _numeric(lambda a, e: a == e),
    "≠": lambda a, e: not _numeric(lambda x, y: x == y)(a, e),
    ">": _numeric(lambda a, e: a > e),
    "<": _numeric(lambda a, e: a < e),
    "≥": _numeric(lambda a, e: a >= e),
    "≤": _numeric(lambda a, e: a <= e),
    "null": lambda a, _e: a is None or a is MISSING,
    "not null": lambda a, _e: a is not None and a is not MISSING,
    "exists": lambda a, _e: a is not None and a is not MISSING,
    "not exists": lambda a, _e: a is None or a is MISSING,
}


def operator(name: str) -> Comparator | None:
    return OPERATORS.get(ALIASES.get(name, name))


def combine(results: Sequence[bool], logical_operator: str) -> bool:
    return any(results) if logical_operator == "or" else all(results)
