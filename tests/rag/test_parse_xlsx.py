"""Excel: every sheet a Markdown table, values as Excel shows them, and what an .xlsx can hide."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time
from pathlib import Path

import openpyxl

from plait.rag.parse import ParseLimits

from .builders import ole2, parsed, pdf, rezipped, saved, unreadable, with_declared_size, word, workbook


def test_every_sheet_is_a_markdown_table_under_its_name() -> None:
    content = workbook(
        {
            "员工": [
                ["姓名", "部门", "入职"],
                ["张三", "研发部", date(2021, 3, 1)],
                ["李四", "市场 | 销售", date(2022, 7, 15)],
            ],
            "Empty": [],
            "Numbers": [
                ["n", "half", "ok", "when"],
                [3, 0.5, True, datetime(2024, 1, 5, 9, 30)],
                [None, 1.25, False, time(8, 0)],
            ],
        }
    )
    document = parsed(content, "staff.xlsx")
    assert [section.label for section in document.sections] == ["员工", "Numbers"]
    assert document.sections[0].text == (
        "## 员工\n\n| 姓名 | 部门 | 入职 |\n| --- | --- | --- |\n"
        "| 张三 | 研发部 | 2021-03-01 |\n| 李四 | 市场 \\| 销售 | 2022-07-15 |"
    )
    assert document.sections[1].text == (
        "## Numbers\n\n| n | half | ok | when |\n| --- | --- | --- | --- |\n"
        "| 3 | 0.5 | TRUE | 2024-01-05 09:30:00 |\n|  | 1.25 | FALSE | 08:00:00 |"
    )
    assert document.text == document.sections[0].text + "\n\n" + document.sections[1].text
    assert document.metadata.format == "xlsx"


def test_a_table_away_from_the_corner_loses_the_empty_columns_and_rows() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Report"
    sheet["C3"], sheet["D3"] = "item", "qty"
    sheet["C5"], sheet["D5"] = "bolts", 40
    book.properties.title = "Stock"
    book.properties.creator = "Warehouse"
    document = parsed(saved(book), "stock.xlsx")
    assert document.text == "## Report\n\n| item | qty |\n| --- | --- |\n| bolts | 40 |"
    assert (document.metadata.title, document.metadata.author) == ("Stock", "Warehouse")


def test_formulas_show_their_last_calculated_value_or_nothing() -> None:
    # openpyxl writes no cached values, so a formula it wrote shows as empty, as in a viewer that does not calculate.
    content = workbook({"S": [["a", "b", "sum"], [1, 2, "=A2+B2"]]})
    assert parsed(content, "sum.xlsx").text == "## S\n\n| a | b | sum |\n| --- | --- | --- |\n| 1 | 2 |  |"


def test_a_workbook_with_no_values_is_empty() -> None:
    unreadable("empty", workbook({"A": [], "B": [[None, ""]]}), "blank.xlsx")


def test_a_sheet_declaring_a_million_rows_of_nothing_fails_fast_as_too_large() -> None:
    content = workbook({"S": [["x"]]})
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    far_cell = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>y</t></is></c></row>'
    xml = xml.replace('<dimension ref="A1:A1"/>', '<dimension ref="A1:XFD1048576"/>').replace(
        "</row></sheetData>", "</row>" + far_cell + "</sheetData>"
    )
    sparse = rezipped(content, replace={"xl/worksheets/sheet1.xml": xml.encode()})
    unreadable("too_large", sparse, "sparse.xlsx", limits=ParseLimits(max_chars=100_000))


def test_entity_declarations_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    content = workbook({"S": [["visible"]]})
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    xml = f'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>' + xml.replace(">visible<", ">&xxe;<")
    error = unreadable("corrupt", rezipped(content, replace={"xl/worksheets/sheet1.xml": xml.encode()}), "xxe.xlsx")
    assert "TOP-SECRET-VALUE" not in error.message


def test_a_bomb_is_refused_before_openpyxl_opens_it() -> None:
    bomb = with_declared_size(workbook({"S": [["x"]]}), "xl/worksheets/sheet1.xml", 0xFFFF0000)
    assert "would unpack to" in unreadable("too_large", bomb, "bomb.xlsx").message


def test_a_pdf_or_docx_named_xlsx_is_a_type_mismatch() -> None:
    error = unreadable("type_mismatch", pdf(["x"]), "data.xlsx")
    assert error.message == "data.xlsx is not an Excel workbook (its content is a PDF)"
    error = unreadable("type_mismatch", word(), "data.xlsx")
    assert error.message == "data.xlsx is not an Excel workbook (its content is a Word document)"


def test_a_legacy_xls_behind_an_xlsx_name_says_to_save_it_as_xlsx() -> None:
    error = unreadable("type_mismatch", ole2("Workbook"), "old.xlsx")
    assert error.message == (
        "old.xlsx is a legacy Excel workbook (.xls), not an Excel workbook: "
        "open it in Office or LibreOffice, save it as .xlsx and upload it again"
    )


def test_a_truncated_workbook_is_corrupt() -> None:
    content = workbook({"S": [["a"] * 20] * 50})
    unreadable("corrupt", content[: len(content) - 200], "cut.xlsx")


def test_a_workbook_missing_its_workbook_part_is_corrupt() -> None:
    content = workbook({"S": [["a"]]})
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename != "xl/workbook.xml":
                target.writestr(info.filename, source.read(info))
    error = unreadable("corrupt", out.getvalue(), "gutted.xlsx")
    assert error.message.startswith("gutted.xlsx could not be read as an Excel workbook")


def test_openpyxl_reads_sheets_through_defusedxml() -> None:
    # What the entity test relies on: openpyxl uses defusedxml when it is installed, unless
    # OPENPYXL_DEFUSEDXML=False is set in the environment.
    assert openpyxl.DEFUSEDXML is True
