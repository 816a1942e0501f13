"""Cleaning and cutting documents by Dify's process rules, with Plait's token counter."""

from __future__ import annotations

import itertools
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plait.errors import InvalidInput
from plait.providers.tokens import count_tokens
from plait.rag.chunk import FULL_DOC_MAX_TOKENS, Chunk, split, split_text
from plait.rag.clean import clean
from plait.rag.process_rules import (
    AUTOMATIC_RULE,
    HIERARCHICAL_RULE,
    PreProcessing,
    ProcessRule,
    Segmentation,
)

OFF = PreProcessing()
ALL = PreProcessing(remove_extra_spaces=True, remove_urls_emails=True, remove_stopwords=True)


def custom(separator: str = "\n\n", max_tokens: int = 50, overlap: int = 0, pre: PreProcessing = OFF) -> ProcessRule:
    return ProcessRule("custom", pre, Segmentation(separator, max_tokens, overlap))


def words(text: str) -> int:
    """A counter anyone can check by eye: one token per word."""
    return len(text.split())


def contents(chunks: list[Chunk]) -> list[str]:
    return [chunk.content for chunk in chunks]


def solid(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- cleaning -------------------------------------------------------------------------


def test_invalid_characters_go_always_and_chat_brackets_are_defused() -> None:
    text = "a\x00b\x07c\x0bd\x0ce\x1ff\x7fg\ufffeh <|im_start|> tab\tline\r\nnext"
    assert clean(text, OFF) == "abcdefgh <im_start> tab\tline\r\nnext"


def test_characters_dify_deletes_by_mistake_are_kept() -> None:
    assert clean("¿Qué? naïve ¾", OFF) == "¿Qué? naïve ¾"


def test_extra_spaces_collapse_as_in_dify() -> None:
    pre = PreProcessing(remove_extra_spaces=True)
    assert clean("one\n\n\n\n\ntwo\n\nthree\nfour", pre) == "one\n\ntwo\n\nthree\nfour"
    assert clean("a  b\t\tc \u3000d\u00a0\u00a0e f\tg", pre) == "a b c d e f\tg"
    assert clean("a  b\n\n\nc", OFF) == "a  b\n\n\nc"


def test_urls_and_emails_go_but_markdown_images_stay_and_links_keep_their_text() -> None:
    pre = PreProcessing(remove_urls_emails=True)
    text = (
        "Write to help@example.com or https://example.com/help?x=1 now.\n"
        "![diagram](https://cdn.example.com/a@2x.png) and [the docs](https://docs.example.com/start)\n"
        "[https://bare.example.com](https://bare.example.com) stays empty; (see http://x.io)."
    )
    assert clean(text, pre) == (
        "Write to  or  now.\n![diagram](https://cdn.example.com/a@2x.png) and the docs\n stays empty; (see )."
    )


def test_stopwords_go_as_whole_words_and_leave_urls_and_names_alone() -> None:
    pre = PreProcessing(remove_stopwords=True)
    assert clean("The cat is on the mat, and I don't know why.", pre) == "cat mat, know."
    assert clean("See i.png, a-b testing and A/B at@x.io", pre) == "See i.png, a-b testing A/B at@x.io"


def test_rules_apply_in_one_order_so_spaces_are_tidied_last() -> None:
    text = "Mail   me@x.com   or the site https://x.io\n\n\n\nBye"
    assert clean(text, ALL) == "Mail site \n\nBye"


# --- custom mode ----------------------------------------------------------------------


def test_pieces_between_separators_are_never_merged() -> None:
    chunks = split("one\n\ntwo\n\n\n\nthree four", custom(), doc_form="text_model")
    assert contents(chunks) == ["one", "two", "three four"]
    assert [chunk.tokens for chunk in chunks] == [count_tokens(c) for c in contents(chunks)]


def test_a_long_piece_is_cut_at_paragraphs_lines_sentences_then_words() -> None:
    text = "alpha beta gamma.\nDelta epsilon. Zeta eta theta iota.\n\nkappa"
    rule = custom(separator="###", max_tokens=4)
    assert contents(split(text, rule, doc_form="text_model", count_tokens=words)) == [
        "alpha beta gamma.",
        "Delta epsilon.",
        "Zeta eta theta iota.",
        "kappa",
    ]
    rule = custom(separator="###", max_tokens=2)
    assert contents(split("one two three four five", rule, doc_form="text_model", count_tokens=words)) == [
        "one two",
        "three four",
        "five",
    ]


def test_short_pieces_inside_a_long_one_are_merged_up_to_the_size() -> None:
    text = "\n".join(f"line {n}" for n in range(6))
    rule = custom(separator="###", max_tokens=5)
    assert contents(split(text, rule, doc_form="text_model", count_tokens=words)) == [
        "line 0\nline 1",
        "line 2\nline 3",
        "line 4\nline 5",
    ]


def test_overlap_repeats_the_last_pieces_of_a_chunk_at_the_start_of_the_next() -> None:
    text = " ".join(f"w{n}" for n in range(10))
    rule = custom(separator="###", max_tokens=4, overlap=2)
    assert contents(split(text, rule, doc_form="text_model", count_tokens=words)) == [
        "w0 w1 w2 w3",
        "w2 w3 w4 w5",
        "w4 w5 w6 w7",
        "w6 w7 w8 w9",
    ]


def test_text_without_any_separator_is_cut_by_tokens() -> None:
    text = "知识库" * 700
    chunks = split(text, custom(separator="###", max_tokens=100), doc_form="text_model")
    assert len(chunks) > 1
    assert all(chunk.tokens <= 100 for chunk in chunks)
    assert all(chunk.tokens == count_tokens(chunk.content) for chunk in chunks)
    assert "".join(contents(chunks)) == text
    # Longest prefixes: every chunk but the last is full, or one more character would not fit.
    for chunk, following in itertools.pairwise(chunks):
        assert count_tokens(chunk.content + following.content[0]) > 100


def test_token_cuts_overlap_too() -> None:
    shuffle = random.Random(7)
    text = "".join(shuffle.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(600))
    chunks = split(text, custom(separator="###", max_tokens=20, overlap=5), doc_form="text_model")
    starts = [text.index(chunk.content) for chunk in chunks]
    assert starts == sorted(starts)
    for chunk, start, following in zip(chunks, starts, starts[1:], strict=False):
        assert chunk.tokens <= 20
        shared = text[following : start + len(chunk.content)]
        assert 0 < count_tokens(shared) <= 5
    assert starts[0] == 0
    assert text.endswith(chunks[-1].content)


def test_a_character_bigger_than_the_size_is_a_chunk_of_its_own() -> None:
    def heavy(text: str) -> int:
        return sum(5 if char == "#" else 1 for char in text)

    chunks = split("ab#cd", custom(separator="|", max_tokens=2), doc_form="text_model", count_tokens=heavy)
    assert contents(chunks) == ["ab", "#", "cd"]
    assert [chunk.tokens for chunk in chunks] == [2, 5, 2]


def test_cleaning_happens_before_cutting() -> None:
    text = "Visit https://x.io   today\n\n\n\n\nBye\x00"
    rule = custom(separator="\n\n", pre=PreProcessing(remove_extra_spaces=True, remove_urls_emails=True))
    assert contents(split(text, rule, doc_form="text_model")) == ["Visit today", "Bye"]


def test_empty_and_blank_text_gives_no_chunks() -> None:
    assert split("", custom(), doc_form="text_model") == []
    assert split(" \n\n \t\n\n", custom(), doc_form="text_model") == []
    assert split("  \n ", HIERARCHICAL_RULE, doc_form="hierarchical_model") == []


def test_qa_documents_are_cut_like_text_documents() -> None:
    text = "First.\n\nSecond."
    assert split(text, custom(), doc_form="qa_model") == split(text, custom(), doc_form="text_model")


def test_the_rule_must_fit_the_doc_form() -> None:
    with pytest.raises(InvalidInput) as caught:
        split("text", custom(), doc_form="hierarchical_model")
    assert caught.value.params == "doc_form"


# --- automatic mode -------------------------------------------------------------------


def test_automatic_mode_merges_short_paragraphs_up_to_500_tokens_with_overlap() -> None:
    paragraphs = [f"Paragraph {n} says something about topic {n}." for n in range(200)]
    text = "\n".join(paragraphs)
    chunks = split(text, AUTOMATIC_RULE, doc_form="text_model")
    assert 2 < len(chunks) < 40
    assert all(chunk.tokens <= 500 for chunk in chunks)
    assert max(chunk.tokens for chunk in chunks) > 400
    # 50 tokens of overlap: each chunk starts with lines the previous one ended with.
    for chunk, following in itertools.pairwise(chunks):
        first_line = following.content.splitlines()[0]
        assert first_line in chunk.content
    assert chunks[0].content.startswith("Paragraph 0 ")
    assert chunks[-1].content.endswith("topic 199.")


def test_automatic_mode_removes_extra_spaces_but_keeps_urls() -> None:
    chunks = split("See   https://x.io\n\n\n\nnow", AUTOMATIC_RULE, doc_form="text_model")
    assert contents(chunks) == ["See https://x.io\n\nnow"]


# --- parent-child ---------------------------------------------------------------------


def test_paragraph_parents_get_children_from_the_subchunk_rule() -> None:
    rule = ProcessRule(
        "hierarchical",
        OFF,
        Segmentation("\n\n", 6),
        "paragraph",
        Segmentation("\n", 2),
    )
    text = "a b\nc d\ne\n\nf g h\n\ni j k l m n o"
    chunks = split(text, rule, doc_form="hierarchical_model", count_tokens=words)
    assert [(chunk.content, contents(list(chunk.children))) for chunk in chunks] == [
        ("a b\nc d\ne", ["a b", "c d", "e"]),
        ("f g h", ["f g", "h"]),
        ("i j k l m n", ["i j", "k l", "m n"]),
        ("o", ["o"]),
    ]
    assert chunks[0].tokens == 5
    assert all(child.tokens == words(child.content) for chunk in chunks for child in chunk.children)


def test_full_doc_makes_one_parent_of_the_cleaned_document() -> None:
    rule = ProcessRule(
        "hierarchical",
        PreProcessing(remove_extra_spaces=True),
        Segmentation("\n\n", 500),
        "full-doc",
        Segmentation("\n", 200),
    )
    text = "Title\n\n\n\n" + "\n".join(f"Line {n}  of the   handbook." for n in range(50))
    [parent] = split(text, rule, doc_form="hierarchical_model")
    assert parent.content.startswith("Title\n\nLine 0 of the handbook.\nLine 1 ")
    assert parent.tokens == count_tokens(parent.content)
    assert contents(list(parent.children))[:2] == ["Title", "Line 0 of the handbook."]
    assert len(parent.children) == 51


def test_full_doc_keeps_the_first_ten_thousand_tokens() -> None:
    assert FULL_DOC_MAX_TOKENS == 10_000
    rule = ProcessRule("hierarchical", OFF, Segmentation("\n\n", 500), "full-doc", Segmentation("\n", 3))
    text = "\n".join(f"w{n} x" for n in range(100))
    [parent] = split(text, rule, doc_form="hierarchical_model", count_tokens=words, full_doc_max_tokens=50)
    assert parent.tokens == 50
    assert parent.content.endswith("w24 x")
    assert contents(list(parent.children))[-1] == "w24 x"


def test_split_text_cuts_one_segment_again() -> None:
    chunks = split_text("a b c\nd", Segmentation("\n", 2), count_tokens=words)
    assert contents(chunks) == ["a b", "c", "d"]


# --- properties -----------------------------------------------------------------------

TEXT = st.text(
    alphabet=st.sampled_from(list("ab cd。.\n\n\t#字词🙂Zé-")) | st.characters(codec="utf-8"),
    max_size=600,
)
SEPARATORS = st.sampled_from(["\n", "\n\n", "。", "#", " ", "ab", ". "])


@settings(max_examples=150, deadline=None)
@given(text=TEXT, separator=SEPARATORS, max_tokens=st.integers(1, 40), mode=st.sampled_from(["custom", "automatic"]))
def test_no_text_is_lost_and_no_chunk_is_too_big(text: str, separator: str, max_tokens: int, mode: str) -> None:
    rule = ProcessRule(mode, OFF, Segmentation(separator, max_tokens))  # type: ignore[arg-type]
    chunks = split(text, rule, doc_form="text_model")
    # The user's separators are cut out, as in Dify; every other character is kept.
    kept = clean(text, OFF).replace(separator, "") if mode == "custom" else clean(text, OFF)
    assert solid("".join(contents(chunks))) == solid(kept)
    for chunk in chunks:
        assert chunk.content == chunk.content.strip() != ""
        assert chunk.tokens == count_tokens(chunk.content)
        assert chunk.tokens <= max_tokens or len(chunk.content) == 1


def is_subsequence(needle: str, haystack: str) -> bool:
    letters = iter(haystack)
    return all(letter in letters for letter in needle)


@settings(max_examples=100, deadline=None)
@given(text=TEXT, separator=SEPARATORS, max_tokens=st.integers(2, 40), data=st.data())
def test_with_overlap_text_is_still_all_there_in_order(
    text: str, separator: str, max_tokens: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(1, max_tokens - 1))
    chunks = split(text, custom(separator, max_tokens, overlap), doc_form="text_model")
    assert is_subsequence(solid(clean(text, OFF).replace(separator, "")), solid("".join(contents(chunks))))
    assert all(chunk.tokens <= max_tokens or len(chunk.content) == 1 for chunk in chunks)


@settings(max_examples=60, deadline=None)
@given(text=TEXT, parent_max=st.integers(1, 40), child_max=st.integers(1, 20))
def test_children_hold_all_of_their_parent(text: str, parent_max: int, child_max: int) -> None:
    rule = ProcessRule(
        "hierarchical", OFF, Segmentation("\n\n", parent_max), "paragraph", Segmentation("\n", child_max)
    )
    parents = split(text, rule, doc_form="hierarchical_model")
    assert solid("".join(contents(parents))) == solid(clean(text, OFF))
    for parent in parents:
        assert parent.children
        assert solid("".join(contents(list(parent.children)))) == solid(parent.content)
        assert all(child.tokens <= child_max or len(child.content) == 1 for child in parent.children)


# --- cost -----------------------------------------------------------------------------


class CountingCounter:
    """The real counter, keeping track of how much text it was asked to read."""

    def __init__(self) -> None:
        self.characters = 0

    def __call__(self, text: str) -> int:
        self.characters += len(text)
        return count_tokens(text)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("\n\n".join(f"Paragraph {n}. " + "Some words here. " * (n % 40) for n in range(400)), custom(max_tokens=100)),
        ("\n".join(f"Line {n} of a long manual." for n in range(3000)), AUTOMATIC_RULE),
        ("Sentence number one goes here. " * 3000, custom(separator="\n", max_tokens=200, overlap=20)),
        ("字" * 30_000, custom(separator="\n", max_tokens=300)),
    ],
    ids=["paragraphs", "automatic", "one-long-paragraph", "no-separators"],
)
def test_text_is_counted_a_bounded_number_of_times(text: str, rule: ProcessRule) -> None:
    counter = CountingCounter()
    chunks = split(text, rule, doc_form="text_model", count_tokens=counter)
    assert chunks
    # Each level of cutting reads the text once, and each chunk is counted once when made:
    # a linear cost, never one that grows with the square of the document.
    assert counter.characters <= 12 * len(text)
