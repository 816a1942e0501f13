"""Word: structure in document order, and every way a .docx can be something else."""

from __future__ import annotations

import io
import random
import struct
import zipfile
from pathlib import Path

from docx.document import Document

from plait.rag.parse import ParseLimits

from .builders import ole2, parsed, pdf, presentation, rezipped, unreadable, with_declared_size, word, workbook


def _report(document: Document) -> None:
    document.core_properties.title = "季度报告"
    document.core_properties.author = "王芳"
    document.add_heading("季度报告", level=0)
    document.add_paragraph("Summary paragraph, 中文内容。")
    document.add_paragraph("")
    document.add_heading("Sales", level=2)
    document.add_paragraph("first point", style="List Bullet")
    document.add_paragraph("second point", style="List Number")
    table = document.add_table(rows=3, cols=3)
    for row, values in enumerate([["Region", "Q1", "Q2"], ["North", "10", "12"], ["South | East", "7", "9\nrevised"]]):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    document.add_paragraph("After the table.")


def test_paragraphs_headings_and_tables_in_document_order() -> None:
    document = parsed(word(_report), "report.docx")
    assert document.text == (
        "# 季度报告\n\n"
        "Summary paragraph, 中文内容。\n\n"
        "## Sales\n\n"
        "- first point\n\n"
        "- second point\n\n"
        "| Region | Q1 | Q2 |\n| --- | --- | --- |\n| North | 10 | 12 |\n| South \\| East | 7 | 9<br>revised |\n\n"
        "After the table."
    )
    assert document.metadata.title == "季度报告"
    assert document.metadata.author == "王芳"
    assert document.metadata.format == "docx"
    assert len(document.sections) == 1


def test_merged_cells_keep_their_text_once_and_the_columns_aligned() -> None:
    def build(document: Document) -> None:
        table = document.add_table(rows=2, cols=3)
        merged = table.cell(0, 0).merge(table.cell(0, 1))
        merged.text = "wide"
        table.cell(0, 2).text = "c"
        for column, value in enumerate("123"):
            table.cell(1, column).text = value

    assert parsed(word(build), "merged.docx").text == "| wide |  | c |\n| --- | --- | --- |\n| 1 | 2 | 3 |"


def test_a_table_nested_in_a_cell_stays_in_the_cell() -> None:
    def build(document: Document) -> None:
        outer = document.add_table(rows=1, cols=2)
        outer.cell(0, 0).text = "outer"
        inner = outer.cell(0, 1).add_table(rows=1, cols=1)
        inner.cell(0, 0).text = "inner"

    assert parsed(word(build), "nested.docx").text == "| outer | \\| inner \\|<br>\\| --- \\| |\n| --- | --- |"


def test_a_document_with_no_text_is_empty() -> None:
    unreadable("empty", word(lambda document: document.add_paragraph("   ")), "blank.docx")


def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    package = word(lambda document: document.add_paragraph("visible"))
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        xml = archive.read("word/document.xml").decode()
    declaration = f'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
    xml = xml.replace("?>", "?>" + declaration, 1).replace(">visible<", ">visible &xxe;<")
    document = parsed(rezipped(package, replace={"word/document.xml": xml.encode()}), "xxe.docx")
    assert "visible" in document.text
    assert "TOP-SECRET-VALUE" not in document.text


def test_a_member_with_an_extreme_compression_ratio_is_refused_as_a_bomb() -> None:
    bomb = rezipped(word(), add={"word/media/padding.bin": bytes(30 * 1024 * 1024)})
    error = unreadable("too_large", bomb, "bomb.docx")
    assert "word/media/padding.bin is compressed" in error.message
    assert "decompression bomb" in error.message


def test_declared_sizes_past_the_unpacked_limit_are_refused_before_parsing() -> None:
    bomb = with_declared_size(word(), "word/document.xml", 0xFFFF0000)
    error = unreadable("too_large", bomb, "bomb.docx")
    assert "would unpack to" in error.message
    assert "decompression bomb" in error.message
    unreadable("too_large", word(), "small.docx", limits=ParseLimits(max_unpacked_bytes=1000))


def test_too_many_zip_members_is_too_large() -> None:
    crowded = rezipped(word(), add={f"extra/item{index}.xml": b"<a/>" for index in range(30)})
    error = unreadable("too_large", crowded, "crowded.docx", limits=ParseLimits(max_zip_entries=20))
    assert "parts, more than the 20 allowed" in error.message


def test_a_truncated_docx_is_corrupt() -> None:
    package = word(_report)
    error = unreadable("corrupt", package[: len(package) // 2], "cut.docx")
    assert "ZIP structure cannot be read" in error.message


def test_a_docx_missing_its_document_part_is_corrupt() -> None:
    package = word()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                target.writestr(info.filename, source.read(info))
    error = unreadable("corrupt", out.getvalue(), "gutted.docx")
    assert error.message.startswith("gutted.docx could not be read as a Word document")
    assert "KeyError" in str(error.detail)


def test_random_bytes_are_corrupt() -> None:
    unreadable("corrupt", random.Random(1).randbytes(2048), "noise.docx")


def test_a_workbook_or_presentation_named_docx_is_a_type_mismatch() -> None:
    error = unreadable("type_mismatch", workbook({"S": [["a"]]}), "report.docx")
    assert error.message == "report.docx is not a Word document (its content is an Excel workbook)"
    error = unreadable("type_mismatch", presentation([("t", "b")]), "report.docx")
    assert error.message == "report.docx is not a Word document (its content is a PowerPoint presentation)"
    error = unreadable("type_mismatch", pdf(["x"]), "report.docx")
    assert error.message == "report.docx is not a Word document (its content is a PDF)"


def test_a_plain_zip_named_docx_is_a_type_mismatch() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    error = unreadable("type_mismatch", out.getvalue(), "archive.docx")
    assert error.message == "archive.docx is not a Word document (its content is a ZIP archive)"


def test_a_legacy_doc_behind_a_docx_name_says_to_save_it_as_docx() -> None:
    error = unreadable("type_mismatch", ole2("WordDocument"), "old.docx")
    assert error.message == (
        "old.docx is a legacy Word document (.doc), not a Word document: "
        "open it in Office or LibreOffice, save it as .docx and upload it again"
    )


def test_a_password_protected_office_file_is_encrypted() -> None:
    error = unreadable("encrypted", ole2("EncryptedPackage"), "locked.docx")
    assert error.message == "locked.docx is password-protected; remove the password and upload it again"


def test_a_macro_enabled_document_says_to_save_it_as_docx() -> None:
    package = word()
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        types = archive.read("[Content_Types].xml").decode()
    types = types.replace("wordprocessingml.document.main+xml", "wordprocessingml.template.main+xml")
    error = unreadable("type_mismatch", rezipped(package, replace={"[Content_Types].xml": types.encode()}), "t.docx")
    assert "is a macro-enabled Word document or a Word template" in error.message
    assert "save it as .docx" in error.message


def test_damaged_compressed_data_is_corrupt() -> None:
    package = bytearray(word(_report))
    with zipfile.ZipFile(io.BytesIO(bytes(package))) as archive:
        for name in ("[Content_Types].xml", "word/document.xml"):
            info = archive.getinfo(name)
            name_length, extra_length = struct.unpack_from("<HH", package, info.header_offset + 26)
            start = info.header_offset + 30 + name_length + extra_length
            package[start + 10 : start + 40] = bytes(30)
    unreadable("corrupt", bytes(package), "scrambled.docx")
