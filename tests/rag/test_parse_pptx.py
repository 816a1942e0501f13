"""PowerPoint: slide by slide, reading order, titles, tables and groups, and the slide limit."""

from __future__ import annotations

from pptx import Presentation
from pptx.util import Inches

from plait.rag.parse import ParseLimits

from .builders import ole2, parsed, presentation, saved, unreadable, workbook


def test_slides_come_one_by_one_with_titles_as_headings() -> None:
    content = presentation([("季度回顾", "收入增长 20%\n新客户 35 家"), ("Next steps", "Hire two engineers")])
    document = parsed(content, "review.pptx")
    assert [(section.label, section.text) for section in document.sections] == [
        ("1", "# 季度回顾\n\n收入增长 20%\n新客户 35 家"),
        ("2", "# Next steps\n\nHire two engineers"),
    ]
    assert document.text == "# 季度回顾\n\n收入增长 20%\n新客户 35 家\n\n# Next steps\n\nHire two engineers"
    assert document.metadata.page_count == 2
    assert document.metadata.format == "pptx"


def test_shapes_are_read_top_to_bottom_then_left_to_right_with_tables_and_groups() -> None:
    deck = Presentation()
    deck.core_properties.title = "Layout"
    deck.core_properties.author = "Design team"
    slide = deck.slides.add_slide(deck.slide_layouts[6])  # blank
    slide.shapes.add_textbox(Inches(5), Inches(1), Inches(2), Inches(1)).text_frame.text = "top right"
    slide.shapes.add_textbox(Inches(1), Inches(4), Inches(2), Inches(1)).text_frame.text = "bottom"
    slide.shapes.add_textbox(Inches(1), Inches(1), Inches(2), Inches(1)).text_frame.text = "top left"
    group = slide.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(2), Inches(2), Inches(1)).text_frame.text = "grouped"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(3), Inches(4), Inches(1)).table
    for (row, column), value in {(0, 0): "k", (0, 1): "v", (1, 0): "数量", (1, 1): "3"}.items():
        table.cell(row, column).text = value
    document = parsed(saved(deck), "layout.pptx")
    assert document.text == "top left\n\ntop right\n\ngrouped\n\n| k | v |\n| --- | --- |\n| 数量 | 3 |\n\nbottom"
    assert (document.metadata.title, document.metadata.author) == ("Layout", "Design team")


def test_line_breaks_inside_a_paragraph_are_newlines() -> None:
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    slide.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1)).text_frame.text = "first\vsecond"
    assert parsed(saved(deck), "breaks.pptx").text == "first\nsecond"


def test_more_slides_than_the_limit_is_too_large() -> None:
    content = presentation([(f"slide {number}", "text") for number in range(4)])
    error = unreadable("too_large", content, "deck.pptx", limits=ParseLimits(max_pages=3))
    assert error.message.startswith("deck.pptx has 4 slides; at most 3 can be read")


def test_a_deck_of_empty_slides_is_empty() -> None:
    deck = Presentation()
    deck.slides.add_slide(deck.slide_layouts[6])
    unreadable("empty", saved(deck), "blank.pptx")


def test_a_legacy_ppt_or_a_workbook_behind_a_pptx_name() -> None:
    error = unreadable("type_mismatch", ole2("PowerPoint Document"), "old.pptx")
    assert "is a legacy PowerPoint presentation (.ppt)" in error.message
    assert "save it as .pptx" in error.message
    error = unreadable("type_mismatch", workbook({"S": [["a"]]}), "deck.pptx")
    assert error.message == "deck.pptx is not a PowerPoint presentation (its content is an Excel workbook)"


def test_a_truncated_presentation_is_corrupt() -> None:
    content = presentation([("t", "b")])
    unreadable("corrupt", content[:4000], "cut.pptx")
