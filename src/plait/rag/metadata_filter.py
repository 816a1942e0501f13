"""Dify's ``metadata_filtering_conditions``, evaluated against documents' metadata.

A filter is ``{"logical_operator": "and" | "or", "conditions": [{"name",
"comparison_operator", "value"}]}``. :func:`compile_filter` validates it once (operators
known, and fit for the field's declared type; values of the right kind) and
:meth:`MetadataFilter.matches` tests one document's metadata; :func:`matching_documents`
does both for a set of documents, which is what a search's ``SearchFilter.document_ids``
needs.

Operators, by the type of the field (Dify's, plus the ASCII spellings Dify's own code
accepts for the numeric ones):

- string (and arrays of strings): ``contains``, ``not contains``, ``start with``,
  ``end with``, ``is``, ``is not``, ``empty``, ``not empty``, ``in``, ``not in`` (and ``=``,
  ``≠`` for ``is``, ``is not``, as Dify's code reads them)
- number: ``=`` ``≠`` ``>`` ``<`` ``≥`` ``≤`` (also ``==`` ``!=`` ``>=`` ``<=``, and ``is``
  / ``is not``), ``empty``, ``not empty``
- time: ``before``, ``after`` (also ``<`` ``>`` ``≤`` ``≥`` ``=`` ``≠``, ``is``),
  ``empty``, ``not empty``; times are Unix seconds or ISO 8601 text (naive means UTC)

Semantics follow Dify's SQL: a document without the field matches only ``empty``, never
``is not`` or ``not contains``; string matching is case-sensitive (as on PostgreSQL);
``in`` takes a list or comma-separated text; a condition without a value (other than
``empty`` / ``not empty``) is left out, as Dify leaves it out. ``empty`` also matches an
empty string or list, which Dify's UI cannot store apart from "no value".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from plait.errors import InvalidInput

FieldType = Literal["string", "number", "time"]

BUILT_IN_FIELDS: Mapping[str, FieldType] = {
    "document_name": "string",
    "uploader": "string",
    "upload_date": "time",
    "last_update_date": "time",
    "source": "string",
}
"""Dify's built-in document fields (shown when ``built_in_field_enabled``)."""

STRING_OPERATORS = frozenset(
    {"contains", "not contains", "start with", "end with", "is", "is not", "empty", "not empty", "in", "not in"}
)
# Dify's code reads "=" and "≠" on text as "is" and "is not".
_STRING_ALIASES = {"=": "is", "==": "is", "≠": "is not", "!=": "is not"}
_NUMBER_ALIASES = {
    "=": "=",
    "==": "=",
    "is": "=",
    "≠": "≠",
    "!=": "≠",
    "is not": "≠",
    ">": ">",
    "<": "<",
    "≥": "≥",
    ">=": "≥",
    "≤": "≤",
    "<=": "≤",
}
_TIME_ALIASES = {
    "before": "<",
    "after": ">",
    "<": "<",
    ">": ">",
    "≤": "≤",
    "<=": "≤",
    "≥": "≥",
    ">=": "≥",
    "=": "=",
    "is": "=",
    "≠": "≠",
    "!=": "≠",
    "is not": "≠",
}
_PRESENCE = frozenset({"empty", "not empty"})
_COMPARE: Mapping[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "≠": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "≥": lambda a, b: a >= b,
    "≤": lambda a, b: a <= b,
}
_FIELD = "metadata_filtering_conditions"

Matcher = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class MetadataFilter:
    logical_operator: Literal["and", "or"]
    tests: tuple[Matcher, ...]

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        if not self.tests:
            return True
        if self.logical_operator == "and":
            return all(test(metadata) for test in self.tests)
        return any(test(metadata) for test in self.tests)


def compile_filter(
    raw: Mapping[str, Any] | None, *, fields: Mapping[str, FieldType] | None = None, field: str = _FIELD
) -> MetadataFilter:
    """Validate ``raw`` into a filter. ``fields`` declares the datasets' metadata types
    (the built-in fields are added); an operator that does not fit a declared field's type
    is an error. Undeclared names take the type their operator implies."""
    if raw is None:
        return MetadataFilter("and", ())
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{field} must be an object", params=field)
    logical = raw.get("logical_operator") or "and"
    if logical not in ("and", "or"):
        raise InvalidInput(f"{field}.logical_operator must be and or or, not {logical!r}", params=field)
    conditions = raw.get("conditions") or []
    if not isinstance(conditions, list):
        raise InvalidInput(f"{field}.conditions must be a list", params=f"{field}.conditions")
    types = {**BUILT_IN_FIELDS, **(fields or {})}
    tests = []
    for index, condition in enumerate(conditions):
        test = _condition(condition, types, f"{field}.conditions[{index}]")
        if test is not None:
            tests.append(test)
    return MetadataFilter("or" if logical == "or" else "and", tuple(tests))


def matching_documents(
    conditions: Mapping[str, Any] | None,
    documents: Mapping[str, Mapping[str, Any]],
    *,
    fields: Mapping[str, FieldType] | None = None,
) -> set[str]:
    """The ids of the documents whose metadata pass ``conditions`` (all without any)."""
    compiled = compile_filter(conditions, fields=fields)
    return {doc_id for doc_id, metadata in documents.items() if compiled.matches(metadata)}


# --- one condition ----------------------------------------------------------------------------


def _condition(raw: Any, types: Mapping[str, FieldType], field: str) -> Matcher | None:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{field} must be an object", params=field)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{field}.name must be a metadata field name", params=f"{field}.name")
    operator = raw.get("comparison_operator")
    if not isinstance(operator, str):
        raise InvalidInput(f"{field}.comparison_operator is required", params=f"{field}.comparison_operator")
    operator = operator.strip()
    value = raw.get("value")
    kind = types.get(name) or _implied_type(operator, field)
    if operator in _PRESENCE:
        wanted = operator == "empty"
        return lambda metadata: _is_empty(metadata.get(name)) == wanted
    if not _fits(kind, operator):
        raise InvalidInput(
            f"{field}: the operator {operator!r} does not apply to the {kind} field {name!r}",
            params=f"{field}.comparison_operator",
        )
    if value is None or value == "" or value == []:
        return None
    if kind == "string":
        return _string_test(name, _STRING_ALIASES.get(operator, operator), value, f"{field}.value")
    if kind == "number":
        return _ordered_test(name, _NUMBER_ALIASES[operator], _number(value, f"{field}.value"), _as_number)
    return _ordered_test(name, _TIME_ALIASES[operator], _seconds(value, f"{field}.value"), _as_seconds)


def _implied_type(operator: str, field: str) -> FieldType:
    if operator in STRING_OPERATORS:
        return "string"
    if operator in _NUMBER_ALIASES:
        return "number"
    if operator in _TIME_ALIASES:
        return "time"
    raise InvalidInput(f"{field}.comparison_operator {operator!r} is not known", params=f"{field}.comparison_operator")


def _fits(kind: FieldType, operator: str) -> bool:
    if kind == "string":
        return operator in STRING_OPERATORS or operator in _STRING_ALIASES
    if kind == "number":
        return operator in _NUMBER_ALIASES
    return operator in _TIME_ALIASES


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list | tuple) and not value)


def _string_test(name: str, operator: str, value: Any, field: str) -> Matcher:
    if operator in ("in", "not in"):
        options = _options(value, field)
        inside = operator == "in"

        def member(metadata: Mapping[str, Any]) -> bool:
            texts = _texts(metadata.get(name))
            return texts is not None and any(text in options for text in texts) == inside

        return member
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InvalidInput(f"{field} must be text for {operator!r}", params=field)
    wanted = _text(value)
    check: Callable[[str], bool]
    negate = operator in ("not contains", "is not")
    if operator in ("contains", "not contains"):
        check = lambda text: wanted in text  # noqa: E731
    elif operator == "start with":
        check = lambda text: text.startswith(wanted)  # noqa: E731
    elif operator == "end with":
        check = lambda text: text.endswith(wanted)  # noqa: E731
    else:
        check = lambda text: text == wanted  # noqa: E731

    def test(metadata: Mapping[str, Any]) -> bool:
        texts = _texts(metadata.get(name))
        if texts is None:
            return False
        # An array matches when one element does; "not ..." when none does.
        return any(check(text) for text in texts) != negate

    return test


def _ordered_test(name: str, operator: str, wanted: float, read: Callable[[Any], float | None]) -> Matcher:
    compare = _COMPARE[operator]

    def test(metadata: Mapping[str, Any]) -> bool:
        actual = read(metadata.get(name))
        return actual is not None and compare(actual, wanted)

    return test


# --- values -----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _texts(value: Any) -> list[str] | None:
    """A field's value as the texts string operators look at; ``None`` when absent."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [_text(item) for item in value if item is not None]
    return [_text(value)]


def _options(value: Any, field: str) -> Collection[str]:
    if isinstance(value, str):
        return {part.strip() for part in value.split(",") if part.strip()}
    if isinstance(value, Sequence):
        return {_text(item) for item in value if item is not None}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {_text(value)}
    raise InvalidInput(f"{field} must be a list or comma-separated text", params=field)


def _number(value: Any, field: str) -> float:
    number = _as_number(value)
    if number is None:
        raise InvalidInput(f"{field} must be a number, not {value!r}", params=field)
    return number


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _seconds(value: Any, field: str) -> float:
    seconds = _as_seconds(value)
    if seconds is None:
        raise InvalidInput(f"{field} must be a time (Unix seconds or ISO 8601), not {value!r}", params=field)
    return seconds


def _as_seconds(value: Any) -> float | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and _as_number(value) is None:
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            return None
    else:
        return _as_number(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
