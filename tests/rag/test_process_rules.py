"""Dify's process rules: what a create body may say, the defaults it gets, and the stored form."""

from __future__ import annotations

from typing import Any

import pytest

from plait.errors import InvalidInput
from plait.rag.process_rules import (
    AUTOMATIC_RULE,
    HIERARCHICAL_RULE,
    PreProcessing,
    ProcessRule,
    Segmentation,
    decode_separator,
    parse_process_rule,
    to_dify,
)


def custom(segmentation: dict[str, Any] | None = None, **rules: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pre_processing_rules": [
            {"id": "remove_extra_spaces", "enabled": True},
            {"id": "remove_urls_emails", "enabled": False},
        ],
        "segmentation": {"separator": "\\n\\n", "max_tokens": 800, "chunk_overlap": 20}
        if segmentation is None
        else segmentation,
    }
    body.update(rules)
    return {"mode": "custom", "rules": body}


def hierarchical(**rules: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True}],
        "segmentation": {"separator": "\\n\\n", "max_tokens": 1000},
        "parent_mode": "paragraph",
        "subchunk_segmentation": {"separator": "\\n", "max_tokens": 300, "chunk_overlap": 10},
    }
    body.update(rules)
    return {"mode": "hierarchical", "rules": body}


def refused(raw: Any, *, doc_form: str = "text_model", limit: int = 4000) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_process_rule(raw, doc_form=doc_form, max_tokens_limit=limit)
    return caught.value


def test_a_custom_body_is_read_with_its_separator_decoded() -> None:
    rule = parse_process_rule(custom(), doc_form="text_model")
    assert rule == ProcessRule(
        mode="custom",
        pre_processing=PreProcessing(remove_extra_spaces=True),
        segmentation=Segmentation("\n\n", 800, 20),
    )


def test_automatic_mode_takes_difys_defaults_and_ignores_rules() -> None:
    rule = parse_process_rule({"mode": "automatic", "rules": custom()["rules"]}, doc_form="qa_model")
    assert rule == AUTOMATIC_RULE
    assert rule.pre_processing == PreProcessing(remove_extra_spaces=True, remove_urls_emails=False)
    assert rule.segmentation == Segmentation("\n", 500, 50)


def test_no_process_rule_means_automatic_or_difys_parent_child_defaults() -> None:
    assert parse_process_rule(None, doc_form="text_model") == AUTOMATIC_RULE
    rule = parse_process_rule(None, doc_form="hierarchical_model")
    assert rule == HIERARCHICAL_RULE
    assert (rule.parent_mode, rule.segmentation, rule.subchunk_segmentation) == (
        "paragraph",
        Segmentation("\n\n", 500, 0),
        Segmentation("\n", 200, 0),
    )
    assert parse_process_rule({"mode": "hierarchical"}, doc_form="hierarchical_model") == HIERARCHICAL_RULE


def test_a_hierarchical_body_is_read() -> None:
    rule = parse_process_rule(hierarchical(), doc_form="hierarchical_model")
    assert rule.mode == "hierarchical"
    assert rule.parent_mode == "paragraph"
    assert rule.segmentation == Segmentation("\n\n", 1000, 0)
    assert rule.subchunk_segmentation == Segmentation("\n", 300, 10)


def test_full_doc_needs_no_parent_segmentation() -> None:
    rule = parse_process_rule(hierarchical(parent_mode="full-doc", segmentation=None), doc_form="hierarchical_model")
    assert rule.parent_mode == "full-doc"
    assert rule.subchunk_segmentation == Segmentation("\n", 300, 10)
    body = hierarchical(parent_mode="full-doc", segmentation={"separator": "\\n\\n"})
    assert parse_process_rule(body, doc_form="hierarchical_model").parent_mode == "full-doc"
    # In paragraph mode the parents' size is required, as in Dify.
    assert refused(hierarchical(segmentation=None), doc_form="hierarchical_model").params == (
        "process_rule.rules.segmentation"
    )


@pytest.mark.parametrize(
    ("raw", "params", "words"),
    [
        ({"mode": "manual"}, "process_rule.mode", "automatic, custom, hierarchical"),
        ({"rules": {}}, "process_rule.mode", "required"),
        ("custom", "process_rule", "object"),
        ({"mode": "custom"}, "process_rule.rules", "required"),
        (
            custom(segmentation={"separator": "\\n", "max_tokens": 4001}),
            "process_rule.rules.segmentation.max_tokens",
            "50 and 4000",
        ),
        (
            custom(segmentation={"separator": "\\n", "max_tokens": 49}),
            "process_rule.rules.segmentation.max_tokens",
            "49",
        ),
        (
            custom(segmentation={"separator": "\\n", "max_tokens": 0}),
            "process_rule.rules.segmentation.max_tokens",
            "between",
        ),
        (custom(segmentation={"separator": "\\n"}), "process_rule.rules.segmentation.max_tokens", "required"),
        (
            custom(segmentation={"separator": "\\n", "max_tokens": "many"}),
            "process_rule.rules.segmentation.max_tokens",
            "whole number",
        ),
        (
            custom(segmentation={"separator": "\\n", "max_tokens": True}),
            "process_rule.rules.segmentation.max_tokens",
            "whole number",
        ),
        (
            custom(segmentation={"separator": "\\n", "max_tokens": 100, "chunk_overlap": 100}),
            "process_rule.rules.segmentation.chunk_overlap",
            "less than max_tokens",
        ),
        (
            custom(segmentation={"separator": "\\n", "max_tokens": 100, "chunk_overlap": -1}),
            "process_rule.rules.segmentation.chunk_overlap",
            "at least 0",
        ),
        (
            custom(segmentation={"separator": "", "max_tokens": 100}),
            "process_rule.rules.segmentation.separator",
            "non-empty",
        ),
        (custom(segmentation={"max_tokens": 100}), "process_rule.rules.segmentation.separator", "required"),
        (
            custom(segmentation={"separator": 3, "max_tokens": 100}),
            "process_rule.rules.segmentation.separator",
            "string",
        ),
        ({"mode": "custom", "rules": {"pre_processing_rules": []}}, "process_rule.rules.segmentation", "required"),
        (
            custom(pre_processing_rules=[{"id": "remove_html", "enabled": True}]),
            "process_rule.rules.pre_processing_rules[0].id",
            "remove_stopwords",
        ),
        (custom(pre_processing_rules=[{"enabled": True}]), "process_rule.rules.pre_processing_rules[0].id", "required"),
        (
            custom(pre_processing_rules=[{"id": "remove_stopwords", "enabled": "yes"}]),
            "process_rule.rules.pre_processing_rules[0].enabled",
            "true or false",
        ),
        (custom(pre_processing_rules={"remove_stopwords": True}), "process_rule.rules.pre_processing_rules", "list"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(raw: Any, params: str, words: str) -> None:
    error = refused(raw)
    assert error.params == params
    assert words in error.message
    assert error.status == 400


@pytest.mark.parametrize(
    ("rules", "params"),
    [
        ({"parent_mode": "chapter"}, "process_rule.rules.parent_mode"),
        (
            {"subchunk_segmentation": {"separator": "\\n", "max_tokens": 10}},
            "process_rule.rules.subchunk_segmentation.max_tokens",
        ),
        (
            {"subchunk_segmentation": {"max_tokens": 200, "chunk_overlap": 200}},
            "process_rule.rules.subchunk_segmentation.chunk_overlap",
        ),
        ({"segmentation": {"separator": "\\n\\n", "max_tokens": 5000}}, "process_rule.rules.segmentation.max_tokens"),
    ],
)
def test_bad_hierarchical_bodies_are_refused_naming_the_field(rules: dict[str, Any], params: str) -> None:
    assert refused(hierarchical(**rules), doc_form="hierarchical_model").params == params


def test_the_limit_follows_the_deployment_setting() -> None:
    body = custom(segmentation={"separator": "\\n", "max_tokens": 6000})
    assert parse_process_rule(body, doc_form="text_model", max_tokens_limit=8000).segmentation.max_tokens == 6000
    assert "between 50 and 2000, not 6000" in refused(body, limit=2000).message


def test_doc_form_and_mode_must_agree() -> None:
    assert refused(custom(), doc_form="hierarchical_model").params == "doc_form"
    assert refused({"mode": "automatic"}, doc_form="hierarchical_model").params == "doc_form"
    assert "hierarchical_model" in refused(hierarchical(), doc_form="text_model").message
    assert refused(hierarchical(), doc_form="qa_model").params == "doc_form"
    assert refused(None, doc_form="paragraph_model").params == "doc_form"


def test_json_numbers_and_a_missing_overlap_are_read_as_dify_reads_them() -> None:
    rule = parse_process_rule(custom(segmentation={"separator": "###", "max_tokens": "120"}), doc_form="text_model")
    assert rule.segmentation == Segmentation("###", 120, 0)
    rule = parse_process_rule(
        custom(segmentation={"separator": "\\n", "max_tokens": 120.0, "chunk_overlap": None}), doc_form="text_model"
    )
    assert rule.segmentation == Segmentation("\n", 120, 0)


def test_pre_processing_rules_repeat_last_wins_and_absent_means_off() -> None:
    rules = [
        {"id": "remove_urls_emails", "enabled": True},
        {"id": "remove_stopwords", "enabled": True},
        {"id": "remove_urls_emails", "enabled": False},
    ]
    rule = parse_process_rule(custom(pre_processing_rules=rules), doc_form="text_model")
    assert rule.pre_processing == PreProcessing(remove_stopwords=True)
    body = custom()
    del body["rules"]["pre_processing_rules"]
    assert parse_process_rule(body, doc_form="text_model").pre_processing == PreProcessing()


@pytest.mark.parametrize(
    ("escaped", "decoded"),
    [
        ("\\n\\n", "\n\n"),
        ("\\n", "\n"),
        ("\n", "\n"),
        ("\\t", "\t"),
        ("。", "。"),
        ("\\u3002", "。"),
        ("###", "###"),
        ("a\\\\nb", "a\\nb"),
        ("\\q", "\\q"),
    ],
)
def test_separators_are_decoded(escaped: str, decoded: str) -> None:
    assert decode_separator(escaped) == decoded


def test_the_stored_form_of_an_automatic_rule_is_difys() -> None:
    assert to_dify(AUTOMATIC_RULE) == {
        "mode": "automatic",
        "rules": {
            "pre_processing_rules": [
                {"id": "remove_extra_spaces", "enabled": True},
                {"id": "remove_urls_emails", "enabled": False},
            ],
            "segmentation": {"delimiter": "\n", "max_tokens": 500, "chunk_overlap": 50},
        },
    }
    to_dify(AUTOMATIC_RULE)["rules"]["segmentation"]["max_tokens"] = 1
    assert to_dify(AUTOMATIC_RULE)["rules"]["segmentation"]["max_tokens"] == 500


def test_the_stored_form_of_custom_and_hierarchical_rules_reads_back_the_same() -> None:
    rule = parse_process_rule(custom(), doc_form="text_model")
    assert to_dify(rule) == custom()
    assert parse_process_rule(to_dify(rule), doc_form="text_model") == rule
    stopwords = parse_process_rule(
        custom(pre_processing_rules=[{"id": "remove_stopwords", "enabled": True}]), doc_form="text_model"
    )
    assert {"id": "remove_stopwords", "enabled": True} in to_dify(stopwords)["rules"]["pre_processing_rules"]
    assert parse_process_rule(to_dify(stopwords), doc_form="text_model") == stopwords

    parent_child = parse_process_rule(hierarchical(parent_mode="full-doc"), doc_form="hierarchical_model")
    stored = to_dify(parent_child)
    assert stored["mode"] == "hierarchical"
    assert stored["rules"]["parent_mode"] == "full-doc"
    assert stored["rules"]["segmentation"] == {"separator": "\\n\\n", "max_tokens": 1000, "chunk_overlap": 0}
    assert stored["rules"]["subchunk_segmentation"] == {"separator": "\\n", "max_tokens": 300, "chunk_overlap": 10}
    assert parse_process_rule(stored, doc_form="hierarchical_model") == parent_child


def test_rules_built_in_code_are_checked_too() -> None:
    with pytest.raises(InvalidInput, match="chunk_overlap"):
        Segmentation("\n", 10, 10)
    with pytest.raises(InvalidInput, match="max_tokens"):
        Segmentation("\n", 0)
