"""Excel (.xlsx, .xlsm) with openpyxl: every worksheet a section, each a Markdown table.

A sheet's section is its name as a heading and its rows as a table, first row the header,
as Dify renders workbooks. Values are the ones Excel last calculated (``data_only``): a
formula shows its result, not its source. Legacy .xls is not supported (the registry says
so, and says to save it as .xlsx).

The workbook is read in openpyxl's streaming mode, row by row. A sheet can declare a
dimension of a million rows by sixteen thousand columns in a few bytes, which openpyxl
fills with empty cells; every cell visited counts against ``max_chars``, so such a sheet
fails as ``too_large`` instead of running for hours.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import Any

import openpyxl  # type: ignore[import-untyped]

from plait.rag.parse.base import ContentKind, DocumentMetadata, ParsedDocument, Sections, SourceDocument
from plait.rag.parse.ooxml import check_package
from plait.rag.parse.tables import markdown_table


class XlsxParser:
    name = "xlsx"
    description = "an Excel workbook"
    extensions = frozenset({".xlsx", ".xlsm"})
    mime_types = frozenset(
        {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-excel.sheet.macroenabled.12",
        }
    )
    accepts = frozenset({ContentKind.XLSX})

    def parse(self, source: SourceDocument) -> ParsedDocument:
        check_package(source)
        workbook = openpyxl.load_workbook(io.BytesIO(source.content), read_only=True, data_only=True)
        try:
            sections = Sections(source)
            for sheet in workbook.worksheets:
                table = markdown_table(_rows(sheet.iter_rows(values_only=True), sections))
                if table:
                    sections.add(str(sheet.title), f"## {sheet.title}\n\n{table}")
            properties = workbook.properties
            return sections.document(
                DocumentMetadata(format=self.name, title=properties.title or None, author=properties.creator or None)
            )
        finally:
            workbook.close()


def _rows(values: Iterable[Sequence[Any]], sections: Sections) -> list[list[str]]:
    rows: list[list[str]] = []
    cost = 0
    for row in values:
        cells = [_cell(value) for value in row]
        cost += len(cells) + sum(len(cell) for cell in cells)
        sections.ensure_room(cost)
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            rows.append(cells)
    # Columns empty in every row (a table that starts at column C) are not part of it.
    blank = min((next(i for i, cell in enumerate(row) if cell) for row in rows), default=0)
    return [row[blank:] for row in rows]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)
