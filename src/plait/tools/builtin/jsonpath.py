"""The JSONPath subset the JSON tools accept, with the place of every match so it can be changed.

    $                 the whole document
    $.a.b  $['a b']   a member (dot form, or bracketed and quoted for any other name)
    $.a[0]  $.a[-1]   an array element (negative counts from the end)
    $.a[*].b  $.*     every element or member value

The leading ``$`` may be left out (``a.b``), as Dify's JSON tools allow. Recursive
descent (``..``), filters (``[?(...)]``), slices and unions are refused with a message
saying so, rather than half-supported: no JSONPath library ships with Plait, and this
subset covers what Dify's JSON tools are used for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

_NAME = re.compile(r"[^.\[\]\s]+")
_INDEX = re.compile(r"-?\d+")


class JsonPathError(ValueError):
    """The path is not in the supported subset; the message says where."""


@dataclass(frozen=True, slots=True)
class Step:
    kind: Literal["member", "index", "wildcard"]
    key: str | int | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """A value found, with its container and its key there (``parent`` is None for the root)."""

    value: Any
    parent: dict[str, Any] | list[Any] | None
    key: str | int | None


@dataclass(frozen=True, slots=True)
class JsonPath:
    text: str
    steps: tuple[Step, ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        return cls(text, tuple(_steps(text)))

    def find(self, document: Any) -> list[Match]:
        matches = [Match(document, None, None)]
        for step in self.steps:
            matches = [found for match in matches for found in _follow(match.value, step)]
        return matches


def _steps(text: str) -> Iterator[Step]:
    source = text.strip()
    if not source:
        raise JsonPathError("the JSONPath is empty")
    position = 1 if source.startswith("$") else 0
    if position == 0 and not source.startswith(("[", ".")):
        source = "." + source  # a relative path: "a.b" is "$.a.b"
    while position < len(source):
        char = source[position]
        if source.startswith("..", position):
            raise JsonPathError(f"recursive descent ('..') at position {position} of {text!r} is not supported")
        if char == ".":
            position += 1
            if source.startswith("*", position):
                yield Step("wildcard")
                position += 1
                continue
            name = _NAME.match(source, position)
            if name is None:
                raise JsonPathError(f"a member name is missing at position {position} of {text!r}")
            yield Step("member", name.group())
            position = name.end()
        elif char == "[":
            step, position = _bracket(source, position + 1, text)
            yield step
        else:
            raise JsonPathError(f"unexpected {char!r} at position {position} of {text!r}")


def _bracket(source: str, position: int, text: str) -> tuple[Step, int]:
    """The step inside ``[...]`` starting at ``position``; returns it and the position after ``]``."""
    end = source.find("]", position)
    if source.startswith(("'", '"'), position):
        quote = source[position]
        key, position = _quoted(source, position + 1, quote, text)
        if not source.startswith("]", position):
            raise JsonPathError(f"expected ']' at position {position} of {text!r}")
        return Step("member", key), position + 1
    if end < 0:
        raise JsonPathError(f"'[' at position {position - 1} of {text!r} is never closed")
    inner = source[position:end].strip()
    if inner == "*":
        return Step("wildcard"), end + 1
    if _INDEX.fullmatch(inner):
        return Step("index", int(inner)), end + 1
    what = "filters" if inner.startswith("?") else "slices" if ":" in inner else "unions" if "," in inner else None
    if what:
        raise JsonPathError(f"{what} ([{inner}]) are not supported in {text!r}")
    raise JsonPathError(f"[{inner}] in {text!r} is not an index, '*' or a quoted name")


def _quoted(source: str, position: int, quote: str, text: str) -> tuple[str, int]:
    chars: list[str] = []
    while position < len(source):
        char = source[position]
        if char == "\\" and position + 1 < len(source):
            chars.append(source[position + 1])
            position += 2
            continue
        if char == quote:
            return "".join(chars), position + 1
        chars.append(char)
        position += 1
    raise JsonPathError(f"an unterminated quoted name in {text!r}")


def _follow(value: Any, step: Step) -> Iterator[Match]:
    if step.kind == "wildcard":
        if isinstance(value, dict):
            yield from (Match(item, value, key) for key, item in value.items())
        elif isinstance(value, list):
            yield from (Match(item, value, index) for index, item in enumerate(value))
    elif step.kind == "member":
        if isinstance(value, dict) and step.key in value:
            yield Match(value[step.key], value, step.key)
    elif isinstance(value, list) and isinstance(step.key, int) and -len(value) <= step.key < len(value):
        index = step.key % len(value)
        yield Match(value[index], value, index)


def create(document: Any, path: JsonPath, value: Any) -> None:
    """Set ``value`` at ``path``, making the objects and arrays on the way that are missing.

    Array indices may only extend an array by one element; wildcards are refused (there
    is nothing to create through them).
    """
    if not path.steps:
        raise JsonPathError("cannot create the root ('$') of a document")
    current = document
    for position, step in enumerate(path.steps):
        last = position == len(path.steps) - 1
        if step.kind == "wildcard":
            raise JsonPathError(f"cannot create a path through a wildcard in {path.text!r}")
        blank: Any = value if last else ([] if path.steps[position + 1].kind == "index" else {})
        if step.kind == "member" and isinstance(current, dict):
            assert isinstance(step.key, str)
            if last or step.key not in current:
                current[step.key] = blank
            current = current[step.key]
        elif step.kind == "index" and isinstance(current, list):
            assert isinstance(step.key, int)
            if step.key == len(current):
                current.append(blank)
            elif not -len(current) <= step.key < len(current):
                raise JsonPathError(f"index {step.key} is past the end of an array of {len(current)} in {path.text!r}")
            elif last:
                current[step.key] = blank
            current = current[step.key]
        else:
            kind = "an object" if step.kind == "member" else "an array"
            raise JsonPathError(f"cannot create {path.text!r}: the value before step {position + 1} is not {kind}")
