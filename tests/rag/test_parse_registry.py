"""The registry: which parser reads a file, and the checks every file passes on the way."""

from __future__ import annotations

import asyncio
import threading
import zipfile

import pytest

from plait.errors import ConfigurationError, PlaitError
from plait.rag.parse import (
    REASONS,
    ContentKind,
    DocumentUnreadable,
    ParseLimits,
    ParserRegistry,
    default_registry,
    parse_document,
    parse_document_async,
)
from plait.rag.parse.csv import CsvParser
from plait.rag.parse.fake import FakeParser
from plait.rag.parse.pdf import PdfParser
from plait.rag.parse.text import TextParser

from .builders import ole2, pdf, unreadable, word, workbook

BUILT_IN = {"text", "markdown", "pdf", "docx", "html", "csv", "xlsx", "pptx", "json"}


def test_built_in_parsers_are_found_through_the_entry_points() -> None:
    registry = ParserRegistry.from_entry_points()
    assert {registry.parser_for(f"x{extension}").name for extension in registry.extensions} == BUILT_IN  # type: ignore[union-attr]
    assert {".txt", ".md", ".markdown", ".pdf", ".docx", ".html", ".htm", ".csv", ".xlsx", ".pptx", ".json"} <= (
        registry.extensions
    )


def test_an_unknown_entry_point_group_gives_an_empty_registry() -> None:
    registry = ParserRegistry.from_entry_points("plait.parsers.none")
    unreadable("unsupported_type", b"hello", "notes.txt", registry=registry)


def test_a_registry_from_an_explicit_list_reads_only_those_formats() -> None:
    registry = ParserRegistry([TextParser(), CsvParser()])
    assert registry.parse(b"a,b\n1,2\n", filename="t.csv").text == "| a | b |\n| --- | --- |\n| 1 | 2 |"
    error = unreadable("unsupported_type", pdf(["hello"]), "report.pdf", registry=registry)
    assert "(supported: .csv, .log, .properties, .text, .tsv, .txt, .vtt)" in error.message


def test_two_parsers_claiming_one_extension_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"'text' and 'fake' both claim the extension '\.txt'"):
        ParserRegistry([TextParser(), FakeParser(extensions=[".TXT"])])


def test_a_plugin_parser_is_used_for_its_extension() -> None:
    plugin = FakeParser(name="notes", extensions=[".notes"], sections=[("a", "first"), ("b", ""), ("c", "third")])
    document = ParserRegistry([plugin]).parse(b"anything", filename="dir/x.notes")
    assert document.text == "first\n\nthird"
    assert [section.label for section in document.sections] == ["a", "c"]
    assert plugin.parsed[0].filename == "x.notes"


def test_the_extension_decides_and_the_mime_type_is_only_a_hint() -> None:
    registry = default_registry()
    assert registry.parser_for("report.pdf", "text/plain").name == "pdf"  # type: ignore[union-attr]
    assert registry.parser_for("upload.bin", "application/pdf; charset=binary").name == "pdf"  # type: ignore[union-attr]
    assert registry.parser_for("REPORT.PDF").name == "pdf"  # type: ignore[union-attr]
    assert registry.parser_for("upload.bin") is None
    assert parse_document(b"# Title\n\ntext", filename="upload", mime_type="text/markdown").metadata.title == "Title"


def test_a_file_without_extension_or_type_is_read_by_its_content() -> None:
    assert parse_document(pdf(["from the content"]), filename="upload").text == "from the content"
    assert "Hello from Word." in parse_document(word(), filename="upload").text
    # Text has no signature: without a name or a type there is no telling CSV from Markdown.
    unreadable("unsupported_type", b"plain words", "upload")


def test_legacy_office_extensions_are_refused_with_what_to_do() -> None:
    for name, advice in (
        ("old.doc", "save it as .docx"),
        ("old.xls", "save it as .xlsx"),
        ("old.ppt", "save it as .pptx"),
    ):
        error = unreadable("unsupported_type", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), name)
        assert advice in error.message
        assert error.code == "unsupported_file_type"
        assert error.status == 415


def test_a_legacy_extension_wins_over_a_modern_mime_type() -> None:
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    error = unreadable("unsupported_type", ole2("WordDocument"), "old.doc", mime_type=docx_type)
    assert "save it as .docx" in error.message


def test_a_legacy_file_under_another_name_is_told_what_to_save_as() -> None:
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    error = unreadable("type_mismatch", ole2("WordDocument"), "upload.bin", mime_type=docx_type)
    assert error.message.endswith("save it as a Word document and upload it again")


def test_limits_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="parse limit max_pages must be at least 1"):
        ParseLimits(max_pages=0)


def test_an_image_is_not_a_document() -> None:
    error = unreadable("unsupported_type", b"\x89PNG\r\n\x1a\n" + bytes(64), "photo.png")
    assert ".png files are not supported" in error.message


def test_input_over_the_size_limit_is_refused_before_it_is_read() -> None:
    limits = ParseLimits(max_bytes=1000)
    error = unreadable("too_large", b"x" * 1001, "big.txt", limits=limits)
    assert error.message == "big.txt is 1001 bytes; the limit is 1000 bytes"
    assert (error.code, error.status) == ("file_too_large", 413)
    # The default is Dify's 15 MiB upload limit.
    error = unreadable("too_large", b"x" * (15 * 1024 * 1024 + 1), "big.txt")
    assert "the limit is 15.0 MiB" in error.message


def test_an_empty_file_is_empty() -> None:
    for name in ("empty.txt", "empty.pdf", "empty.docx", "empty.json"):
        error = unreadable("empty", b"", name)
        assert error.message == f"{name} is empty (0 bytes); upload the file again"


def test_a_document_with_no_text_is_empty() -> None:
    error = unreadable("empty", b"\n\n  \r\n\t\n", "blank.txt")
    assert error.message == "No text was found in blank.txt."


def test_text_over_the_character_limit_fails_instead_of_being_cut() -> None:
    error = unreadable("too_large", ("word " * 400).encode(), "long.txt", limits=ParseLimits(max_chars=1000))
    assert "more than 1,000 characters" in error.message
    assert len(parse_document(b"x" * 1000, filename="fits.txt", limits=ParseLimits(max_chars=1000)).text) == 1000


@pytest.mark.parametrize(
    "raised",
    [
        zipfile.BadZipFile("File is not a zip file"),
        KeyError("word/document.xml"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        RecursionError("maximum recursion depth exceeded"),
        ValueError("bad value"),
        TypeError("NoneType"),
        AssertionError(),
        MemoryError(),
    ],
)
def test_whatever_a_parser_raises_comes_out_as_document_unreadable(raised: BaseException) -> None:
    registry = ParserRegistry([FakeParser(extensions=[".fake"], raises=raised)])  # type: ignore[arg-type]
    error = unreadable(
        "too_large" if isinstance(raised, MemoryError) else "corrupt", b"x", "broken.fake", registry=registry
    )
    assert error.__cause__ is raised
    assert isinstance(error, PlaitError)


def test_a_parser_failure_passes_through_with_its_own_reason() -> None:
    registry = ParserRegistry([FakeParser(fail_with="encrypted")])
    error = unreadable("encrypted", b"x", "locked.fake", registry=registry)
    assert error.message == "locked.fake failed as told"


def test_reasons_are_the_documented_six() -> None:
    assert set(REASONS) == {"empty", "corrupt", "encrypted", "too_large", "unsupported_type", "type_mismatch"}
    with pytest.raises(ValueError, match="unknown reason"):
        DocumentUnreadable("bad", "message", filename="x")  # type: ignore[arg-type]


def test_directories_in_the_name_are_left_out_of_messages() -> None:
    error = unreadable("empty", b"", "C:\\Users\\me\\Desktop\\notes.txt")
    assert error.message.startswith("notes.txt is empty")


def test_content_kinds_are_sniffed_from_the_bytes() -> None:
    registry = ParserRegistry([FakeParser(accepts=frozenset({ContentKind.PDF}))])
    error = unreadable("type_mismatch", workbook({"S": [["a"]]}), "x.fake", registry=registry)
    assert error.message == "x.fake is not a fake file (its content is an Excel workbook)"


async def test_the_async_form_parses_in_a_worker_thread() -> None:
    seen: list[str] = []

    class ThreadRecordingParser(PdfParser):
        def parse(self, source):  # type: ignore[no-untyped-def]
            seen.append(threading.current_thread().name)
            return super().parse(source)

    registry = ParserRegistry([ThreadRecordingParser()])
    document = await registry.parse_async(pdf(["async page"]), filename="a.pdf")
    assert document.text == "async page"
    assert seen == [seen[0]]
    assert seen[0] != threading.main_thread().name
    assert (await parse_document_async(b"plain", filename="p.txt")).text == "plain"
    with pytest.raises(DocumentUnreadable):
        await asyncio.wait_for(parse_document_async(b"", filename="e.txt"), 10)
