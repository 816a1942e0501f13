"""Plain text, Markdown and JSON: encodings, newlines, binary junk, and JSON's pretty form."""

from __future__ import annotations

import codecs
import random

import pytest

from .builders import parsed, pdf, unreadable, word

CHINESE = "员工手册：每年有二十五天的带薪假期，请提前两周向主管申请。"  # noqa: RUF001
JAPANESE = "日本語のテキストです。これはテストです。東京は日本の首都です。"


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (f"Hello, {CHINESE}".encode(), "utf-8"),
        (codecs.BOM_UTF8 + f"Hello, {CHINESE}".encode(), "utf-8-sig"),
        (f"Hello, {CHINESE}".encode("utf-16"), "utf-16"),  # with its byte-order mark, little-endian here
        (codecs.BOM_UTF16_BE + f"Hello, {CHINESE}".encode("utf-16-be"), "utf-16"),
        (f"Hello, {CHINESE}".encode("utf-32"), "utf-32"),
        (f"Hello, {CHINESE}".encode("gbk"), "gb18030"),
        (f"Hello, {CHINESE}".encode("gb18030"), "gb18030"),
    ],
)
def test_chinese_text_comes_through_in_every_encoding(content: bytes, encoding: str) -> None:
    document = parsed(content, "handbook.txt")
    assert document.text == f"Hello, {CHINESE}"
    assert document.metadata.encoding == encoding
    assert document.metadata.format == "text"


def test_shift_jis_latin_1_and_cyrillic_are_detected() -> None:
    assert parsed(JAPANESE.encode("shift_jis"), "jp.txt").text == JAPANESE
    french = "Le café crème et la crème brûlée sont délicieux, à côté de la forêt."
    assert parsed(french.encode("latin-1"), "fr.txt").text == french
    russian = "Привет, как дела? Всё хорошо, спасибо. Сегодня хорошая погода."
    assert parsed(russian.encode("cp1251"), "ru.txt").text == russian


def test_short_gbk_text_is_read_as_chinese_when_detection_cannot_tell() -> None:
    assert parsed("名字,年龄".encode("gbk"), "short.txt").text == "名字,年龄"


def test_newlines_are_normalised_and_nul_characters_dropped() -> None:
    document = parsed(b"one\r\ntwo\rthree\nfour\x00\n", "lines.txt")
    assert document.text == "one\ntwo\nthree\nfour"
    assert [(section.label, section.text) for section in document.sections] == [("", "one\ntwo\nthree\nfour")]


def test_other_plain_text_extensions_are_text() -> None:
    for name in ("app.log", "notes.text", "captions.vtt", "app.properties"):
        assert parsed(b"key=value", name).text == "key=value"


def test_binary_junk_is_refused_as_not_text() -> None:
    junk = random.Random(7).randbytes(4096)
    error = unreadable("corrupt", junk, "notes.txt")
    assert "does not contain readable text" in error.message


def test_control_characters_in_valid_utf8_are_refused() -> None:
    unreadable("corrupt", bytes(range(1, 32)) * 50, "controls.txt")


def test_invalid_utf16_after_a_byte_order_mark_is_corrupt() -> None:
    error = unreadable("corrupt", codecs.BOM_UTF16_LE + b"a\x00\x00\xd8", "broken.txt")
    assert "UTF-16 byte-order mark" in error.message


def test_a_pdf_or_docx_named_txt_is_a_type_mismatch() -> None:
    error = unreadable("type_mismatch", pdf(["hi"]), "notes.txt")
    assert error.message == "notes.txt is not a text file (its content is a PDF)"
    error = unreadable("type_mismatch", word(), "notes.md")
    assert error.message == "notes.md is not a Markdown file (its content is a Word document)"


def test_markdown_is_kept_as_written_with_its_title() -> None:
    source = "```\n# not a title\n```\n\n# 年度报告 #\r\n\r\n| a | b |\r\n|---|---|\r\n| 1 | 2 |\r\n\r\n## Part\r\n"
    document = parsed(source.encode(), "report.md")
    assert document.text == source.replace("\r\n", "\n").strip()
    assert document.metadata.title == "年度报告"
    assert document.metadata.format == "markdown"
    assert parsed(b"no heading", "x.markdown").metadata.title is None


def test_json_is_pretty_printed_with_non_ascii_kept() -> None:
    document = parsed('{"name":"张三","tags":["a",1,true,null],"nested":{"k":1.5}}'.encode("utf-16"), "data.json")
    assert document.text == (
        '{\n  "name": "张三",\n  "tags": [\n    "a",\n    1,\n    true,\n    null\n  ],\n'
        '  "nested": {\n    "k": 1.5\n  }\n}'
    )
    assert document.metadata.format == "json"


def test_invalid_json_is_corrupt_and_says_where() -> None:
    error = unreadable("corrupt", b'{"a": 1,\n "b": }', "data.json")
    assert error.message == "data.json is not valid JSON: Expecting value at line 2, column 7"


def test_json_nested_too_deeply_is_corrupt() -> None:
    error = unreadable("corrupt", b"[" * 100_000 + b"]" * 100_000, "deep.json")
    assert "nested too deeply" in error.message


def test_json_with_an_integer_too_long_to_convert_is_corrupt() -> None:
    unreadable("corrupt", b"1" * 5000, "huge-number.json")
