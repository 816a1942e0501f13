"""Dify's metadata filtering conditions, every operator, against documents' metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from plait.errors import InvalidInput
from plait.rag.metadata_filter import FieldType, compile_filter, matching_documents

JAN_2025 = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
JUN_2025 = datetime(2025, 6, 1, tzinfo=UTC).timestamp()

DOCUMENTS: dict[str, dict[str, Any]] = {
    "handbook": {
        "document_name": "Employee Handbook.pdf",
        "uploader": "maria",
        "upload_date": JAN_2025,
        "last_update_date": "2025-03-15T09:30:00Z",
        "source": "upload_file",
        "department": "HR",
        "pages": 42,
        "tags": ["policy", "people"],
        "year": "2024",
    },
    "api": {
        "document_name": "API Reference.md",
        "uploader": "dev-bot",
        "upload_date": JUN_2025,
        "last_update_date": "2025-06-02",
        "source": "website_crawl",
        "department": "Engineering",
        "pages": 7.5,
        "tags": ["api"],
    },
    "notes": {
        "document_name": "notes.txt",
        "uploader": "maria",
        "upload_date": JUN_2025 + 86_400,
        "source": "upload_file",
        "department": "",
        "tags": [],
    },
}
FIELDS: dict[str, FieldType] = {"department": "string", "pages": "number", "tags": "string", "year": "number"}


def where(name: str, operator: str, value: Any = None, *, logical: str = "and") -> set[str]:
    conditions = {
        "logical_operator": logical,
        "conditions": [{"name": name, "comparison_operator": operator, "value": value}],
    }
    return matching_documents(conditions, DOCUMENTS, fields=FIELDS)


@pytest.mark.parametrize(
    ("name", "operator", "value", "expected"),
    [
        ("document_name", "contains", "Handbook", {"handbook"}),
        ("document_name", "contains", "handbook", set()),  # case-sensitive, as on PostgreSQL
        ("document_name", "not contains", "Handbook", {"api", "notes"}),
        ("document_name", "start with", "API", {"api"}),
        ("document_name", "end with", ".txt", {"notes"}),
        ("uploader", "is", "maria", {"handbook", "notes"}),
        ("uploader", "is not", "maria", {"api"}),
        ("department", "in", ["HR", "Sales"], {"handbook"}),
        ("department", "in", "Engineering, Sales", {"api"}),  # comma-separated text
        ("department", "not in", ["HR"], {"api", "notes"}),
        ("department", "empty", None, {"notes"}),  # an empty string counts as empty
        ("department", "not empty", None, {"handbook", "api"}),
        ("source", "is", "website_crawl", {"api"}),
        ("uploader", "=", "maria", {"handbook", "notes"}),  # Dify's code reads = and ≠ on text as is / is not
        ("uploader", "≠", "maria", {"api"}),
    ],
)
def test_string_operators(name: str, operator: str, value: Any, expected: set[str]) -> None:
    assert where(name, operator, value) == expected


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("contains", "policy", {"handbook"}),
        ("not contains", "policy", {"api", "notes"}),
        ("start with", "peo", {"handbook"}),
        ("end with", "pi", {"api"}),
        ("is", "api", {"api"}),
        ("is not", "api", {"handbook", "notes"}),
        ("in", ["people", "api"], {"handbook", "api"}),
        ("not in", ["people", "api"], {"notes"}),
        ("empty", None, {"notes"}),
        ("not empty", None, {"handbook", "api"}),
    ],
)
def test_array_operators_look_at_the_elements(operator: str, value: Any, expected: set[str]) -> None:
    assert where("tags", operator, value) == expected


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("=", 42, {"handbook"}),
        ("==", "42", {"handbook"}),
        ("is", 7.5, {"api"}),
        ("≠", 42, {"api"}),  # notes has no pages: a missing field never matches
        ("!=", 42, {"api"}),
        ("is not", 42, {"api"}),
        (">", 7.5, {"handbook"}),
        ("<", 42, {"api"}),
        ("≥", 7.5, {"handbook", "api"}),
        (">=", 42.0, {"handbook"}),
        ("≤", 42, {"handbook", "api"}),
        ("<=", 7, set()),
        ("empty", None, {"notes"}),
        ("not empty", None, {"handbook", "api"}),
    ],
)
def test_number_operators(operator: str, value: Any, expected: set[str]) -> None:
    assert where("pages", operator, value) == expected


def test_a_number_stored_as_text_compares_as_a_number() -> None:
    assert where("year", ">", 2023) == {"handbook"}
    assert where("year", "<", "2023") == set()


@pytest.mark.parametrize(
    ("name", "operator", "value", "expected"),
    [
        ("upload_date", "before", JUN_2025, {"handbook"}),
        ("upload_date", "after", JAN_2025, {"api", "notes"}),
        ("upload_date", "after", "2025-06-01T00:00:00+00:00", {"notes"}),
        ("upload_date", "before", "2025-06-01", {"handbook"}),  # a naive ISO time is UTC
        ("upload_date", "<", JUN_2025, {"handbook"}),  # Dify's code treats < and > as before and after
        ("upload_date", ">", JUN_2025, {"notes"}),
        ("upload_date", "is", JUN_2025, {"api"}),
        ("upload_date", "≥", JUN_2025, {"api", "notes"}),
        ("last_update_date", "after", "2025-04-01T00:00:00Z", {"api"}),  # ISO text stored
        ("last_update_date", "before", JUN_2025, {"handbook"}),
        ("last_update_date", "empty", None, {"notes"}),
        ("last_update_date", "not empty", None, {"handbook", "api"}),
    ],
)
def test_time_operators(name: str, operator: str, value: Any, expected: set[str]) -> None:
    assert where(name, operator, value) == expected


def test_and_or() -> None:
    conditions = [
        {"name": "uploader", "comparison_operator": "is", "value": "maria"},
        {"name": "pages", "comparison_operator": "≥", "value": 10},
    ]
    assert matching_documents({"logical_operator": "and", "conditions": conditions}, DOCUMENTS) == {"handbook"}
    assert matching_documents({"logical_operator": "or", "conditions": conditions}, DOCUMENTS) == {"handbook", "notes"}
    assert matching_documents({"conditions": conditions}, DOCUMENTS) == {"handbook"}  # and by default


def test_no_conditions_match_every_document() -> None:
    assert matching_documents(None, DOCUMENTS) == set(DOCUMENTS)
    assert matching_documents({"logical_operator": "or", "conditions": []}, DOCUMENTS) == set(DOCUMENTS)


def test_a_condition_without_a_value_is_left_out_as_dify_does() -> None:
    conditions = [
        {"name": "uploader", "comparison_operator": "is", "value": "maria"},
        {"name": "department", "comparison_operator": "contains", "value": None},
        {"name": "pages", "comparison_operator": ">", "value": ""},
    ]
    assert matching_documents({"logical_operator": "and", "conditions": conditions}, DOCUMENTS) == {"handbook", "notes"}


def test_an_undeclared_field_takes_its_operators_type() -> None:
    documents: dict[str, dict[str, Any]] = {"a": {"priority": 3}, "b": {"priority": "high"}, "c": {}}
    assert matching_documents(
        {"conditions": [{"name": "priority", "comparison_operator": "≥", "value": 2}]}, documents
    ) == {"a"}
    assert matching_documents(
        {"conditions": [{"name": "priority", "comparison_operator": "is", "value": "high"}]}, documents
    ) == {"b"}
    assert matching_documents(
        {"conditions": [{"name": "priority", "comparison_operator": "contains", "value": 3}]}, documents
    ) == {"a"}


def test_a_compiled_filter_is_reusable() -> None:
    compiled = compile_filter({"conditions": [{"name": "pages", "comparison_operator": ">", "value": 10}]})
    assert compiled.matches({"pages": 11})
    assert not compiled.matches({"pages": 9})
    assert not compiled.matches({})


@pytest.mark.parametrize(
    ("conditions", "params", "message"),
    [
        ({"logical_operator": "xor", "conditions": []}, "metadata_filtering_conditions", "logical_operator"),
        ({"conditions": "pages > 3"}, "metadata_filtering_conditions.conditions", "must be a list"),
        ({"conditions": ["pages"]}, "metadata_filtering_conditions.conditions[0]", "must be an object"),
        (
            {"conditions": [{"comparison_operator": "is", "value": "x"}]},
            "metadata_filtering_conditions.conditions[0].name",
            "name",
        ),
        (
            {"conditions": [{"name": "pages", "value": 3}]},
            "metadata_filtering_conditions.conditions[0].comparison_operator",
            "required",
        ),
        (
            {"conditions": [{"name": "x", "comparison_operator": "like", "value": 3}]},
            "metadata_filtering_conditions.conditions[0].comparison_operator",
            "'like' is not known",
        ),
        (
            {"conditions": [{"name": "pages", "comparison_operator": "contains", "value": "4"}]},
            "metadata_filtering_conditions.conditions[0].comparison_operator",
            "does not apply to the number field 'pages'",
        ),
        (
            {"conditions": [{"name": "department", "comparison_operator": ">", "value": 3}]},
            "metadata_filtering_conditions.conditions[0].comparison_operator",
            "string field 'department'",
        ),
        (
            {"conditions": [{"name": "upload_date", "comparison_operator": "contains", "value": "2025"}]},
            "metadata_filtering_conditions.conditions[0].comparison_operator",
            "time field 'upload_date'",
        ),
        (
            {"conditions": [{"name": "pages", "comparison_operator": "dummy", "value": 3}]},
            "metadata_filtering_conditions.conditions[0].comparison_operator",
            "does not apply",
        ),
        (
            {"conditions": [{"name": "pages", "comparison_operator": ">", "value": "many"}]},
            "metadata_filtering_conditions.conditions[0].value",
            "must be a number",
        ),
        (
            {"conditions": [{"name": "upload_date", "comparison_operator": "before", "value": "last week"}]},
            "metadata_filtering_conditions.conditions[0].value",
            "must be a time",
        ),
        (
            {"conditions": [{"name": "department", "comparison_operator": "in", "value": {"HR": 1}}]},
            "metadata_filtering_conditions.conditions[0].value",
            "list or comma-separated",
        ),
        (
            {"conditions": [{"name": "department", "comparison_operator": "contains", "value": ["HR"]}]},
            "metadata_filtering_conditions.conditions[0].value",
            "must be text",
        ),
    ],
)
def test_invalid_conditions_name_the_field(conditions: dict[str, Any], params: str, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        matching_documents(conditions, DOCUMENTS, fields=FIELDS)
    assert raised.value.params == params
    assert message in raised.value.message
