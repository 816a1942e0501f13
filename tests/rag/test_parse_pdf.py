"""PDF: page by page, metadata, encryption, scans, damage and the page limit."""

from __future__ import annotations

import pytest

from plait.rag.parse import ParseLimits

from .builders import DEJAVU, cjk_font, encrypted_pdf, image_only_pdf, parsed, pdf, unreadable, word


def test_text_comes_page_by_page_with_metadata() -> None:
    content = pdf(
        ["Employee handbook\nVacation: 25 days per year.", "", "Sick leave: 10 days."], title="Handbook", author="HR"
    )
    document = parsed(content, "handbook.pdf")
    assert document.text == "Employee handbook\nVacation: 25 days per year.\n\nSick leave: 10 days."
    assert [(section.label, section.text) for section in document.sections] == [
        ("1", "Employee handbook\nVacation: 25 days per year."),
        ("3", "Sick leave: 10 days."),
    ]
    assert document.metadata.title == "Handbook"
    assert document.metadata.author == "HR"
    assert document.metadata.page_count == 3
    assert document.metadata.format == "pdf"


@pytest.mark.skipif(not DEJAVU.exists(), reason=f"no DejaVu font at {DEJAVU} to write non-Latin text into a PDF")
def test_non_latin_text_comes_through() -> None:
    text = "Привет, мир. Ελληνικά κείμενα. Ünïcödé"
    assert parsed(pdf([text], font=DEJAVU), "letters.pdf").text == text


def test_chinese_text_comes_through() -> None:
    font = cjk_font()
    if font is None:
        pytest.skip("no TrueType font with Chinese glyphs on this machine (fc-list :lang=zh is empty); fpdf2 needs one")
    text = "员工手册：每年有二十五天的带薪假期。"  # noqa: RUF001
    assert parsed(pdf([text], font=font), "手册.pdf").text == text


def test_a_password_protected_pdf_is_encrypted() -> None:
    content = encrypted_pdf(pdf(["secret plans"]), user_password="open-sesame")
    error = unreadable("encrypted", content, "report.pdf")
    assert error.message == "report.pdf is encrypted; remove the password and upload it again"


def test_a_pdf_with_only_an_owner_password_opens_like_in_any_viewer() -> None:
    content = encrypted_pdf(pdf(["printing is restricted"]), user_password="")
    assert parsed(content, "restricted.pdf").text == "printing is restricted"


def test_a_scan_with_only_images_is_empty_and_says_there_is_no_ocr() -> None:
    error = unreadable("empty", image_only_pdf(), "scan.pdf")
    assert error.message == (
        "No text was found in scan.pdf. Text inside images (a scan, a photo) is not read: OCR is not available"
    )


def test_more_pages_than_the_limit_is_too_large() -> None:
    content = pdf(["one", "two", "three", "four"])
    error = unreadable("too_large", content, "long.pdf", limits=ParseLimits(max_pages=3))
    assert error.message.startswith("long.pdf has 4 pages; at most 3 can be read")
    assert parsed(content, "long.pdf", limits=ParseLimits(max_pages=4)).metadata.page_count == 4


def test_too_much_text_fails_while_the_pages_are_read() -> None:
    content = pdf(["x" * 60] * 5)
    unreadable("too_large", content, "wordy.pdf", limits=ParseLimits(max_chars=150))


def test_a_truncated_pdf_is_corrupt() -> None:
    content = pdf(["a page that is cut off"])
    error = unreadable("corrupt", content[: len(content) // 3], "cut.pdf")
    assert error.message.startswith("cut.pdf")


def test_garbage_after_a_pdf_header_is_corrupt() -> None:
    unreadable("corrupt", b"%PDF-1.7\n" + bytes(range(256)) * 20, "junk.pdf")


def test_random_bytes_named_pdf_are_corrupt() -> None:
    error = unreadable("corrupt", bytes(range(256)) * 8, "random.pdf")
    assert error.message == "random.pdf is damaged or is not a PDF: its content is unrecognisable"


def test_a_word_document_named_pdf_is_a_type_mismatch() -> None:
    error = unreadable("type_mismatch", word(), "report.pdf")
    assert error.message == "report.pdf is not a PDF (its content is a Word document)"
