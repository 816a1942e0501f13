"""Validation of a run's outputs against Dify's limits, on the server side.

The child's answer is untrusted (the author's code ran there and could have written
anything to the result channel), so the checks live here, after ``json.loads``. Rules, as
in Dify's code node: the result is an object whose keys are the outputs; strings up to
``max_string_length`` characters; objects and arrays nested at most ``max_depth`` levels
(the result object is level 1); arrays of numbers up to ``max_number_array_items``, other
arrays up to ``max_array_items``; integers within 64 bits.
"""

from __future__ import annotations

from plait.sandbox.errors import InvalidCodeOutput
from plait.sandbox.limits import SandboxLimits

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def validate_outputs(value: object, limits: SandboxLimits) -> dict[str, object]:
    """Return ``value`` as the outputs mapping, or raise ``InvalidCodeOutput`` naming the path."""
    if not isinstance(value, dict):
        raise InvalidCodeOutput(f"main() must return a dict (an object in JavaScript), not {_kind(value)}")
    _check(value, "", 1, limits)
    return value


def _kind(value: object) -> str:
    names = {
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "an array",
        dict: "an object",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _check(value: object, path: str, depth: int, limits: SandboxLimits) -> None:
    where = f"output {path!r}" if path else "the output"
    if isinstance(value, str):
        if len(value) > limits.max_string_length:
            raise InvalidCodeOutput(
                f"{where} is a string of {len(value)} characters; the limit is {limits.max_string_length}"
            )
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise InvalidCodeOutput(f"{where} is a number outside the 64-bit integer range")
    elif isinstance(value, dict | list):
        if depth > limits.max_depth:
            raise InvalidCodeOutput(f"{where} is nested more than {limits.max_depth} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                _check(item, f"{path}.{key}" if path else str(key), depth + 1, limits)
            return
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        cap = limits.max_number_array_items if numbers and value else limits.max_array_items
        if len(value) > cap:
            kind = "numbers" if numbers else "strings or objects"
            raise InvalidCodeOutput(f"{where} is an array of {len(value)} {kind}; the limit is {cap}")
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", depth + 1, limits)
    else:
        raise InvalidCodeOutput(f"{where} has a type JSON cannot carry: {type(value).__name__}")
