"""CSV: a Markdown table, the delimiter sniffed and the encoding detected."""

from __future__ import annotations

import pytest

from plait.rag.parse.csv import sniff_delimiter

from .builders import parsed, unreadable, workbook

TABLE = "| name | city |\n| --- | --- |\n| Ann | Paris |\n| Bob | Oslo |"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_sniffed(delimiter: str) -> None:
    content = f"name{delimiter}city\nAnn{delimiter}Paris\nBob{delimiter}Oslo\n"
    assert sniff_delimiter(content) == delimiter
    assert parsed(content.encode(), "people.csv").text == TABLE


def test_semicolons_win_over_decimal_commas() -> None:
    content = "Artikel;Preis;Menge\nÄpfel;1,50;3\nBirnen;2,25;10\nKiwis;0,99;7\n"
    assert parsed(content.encode("cp1252"), "preise.csv").text == (
        "| Artikel | Preis | Menge |\n| --- | --- | --- |\n"
        "| Äpfel | 1,50 | 3 |\n| Birnen | 2,25 | 10 |\n| Kiwis | 0,99 | 7 |"
    )


def test_gbk_csv_from_chinese_excel_comes_through() -> None:
    content = "姓名,部门,入职日期\n张三,研发部,2021-03-01\n李四,市场部,2022-07-15\n".encode("gbk")
    document = parsed(content, "员工.csv")
    assert document.text == (
        "| 姓名 | 部门 | 入职日期 |\n| --- | --- | --- |\n"
        "| 张三 | 研发部 | 2021-03-01 |\n| 李四 | 市场部 | 2022-07-15 |"
    )
    assert document.metadata.encoding == "gb18030"


def test_utf8_with_bom_and_quoted_fields() -> None:
    content = '\ufeffid,comment\n1,"says ""hi"", twice"\n2,"two\nlines | and a pipe"\n'.encode()
    assert parsed(content, "comments.csv").text == (
        '| id | comment |\n| --- | --- |\n| 1 | says "hi", twice |\n| 2 | two<br>lines \\| and a pipe |'
    )


def test_ragged_rows_are_padded_and_blank_rows_dropped() -> None:
    assert (
        parsed(b"a,b,c\n1\n,,\n\n2,3\n", "ragged.csv").text
        == "| a | b | c |\n| --- | --- | --- |\n| 1 |  |  |\n| 2 | 3 |  |"
    )


def test_a_single_column_is_a_one_column_table() -> None:
    assert parsed(b"word\nalpha\nbeta\n", "words.csv").text == "| word |\n| --- |\n| alpha |\n| beta |"


def test_tsv_is_tab_separated() -> None:
    assert parsed(b"name\tcity\nAnn\tParis\nBob\tOslo\n", "people.tsv").text == TABLE


def test_a_field_past_the_csv_module_limit_is_corrupt() -> None:
    error = unreadable("corrupt", b'a,b\n1,"' + b"x" * 200_000 + b'"\n', "wide.csv")
    assert "is not valid CSV at line" in error.message


def test_an_excel_workbook_named_csv_is_a_type_mismatch() -> None:
    error = unreadable("type_mismatch", workbook({"S": [["a"]]}), "export.csv")
    assert error.message == "export.csv is not a CSV file (its content is an Excel workbook)"
