"""Word (.docx) with python-docx, in document order: paragraphs and tables.

Headings become Markdown headings (``#`` per level, the Title style a level one), list
paragraphs become ``-`` items, and tables become Markdown tables, the way Dify's extractor
keeps them. Blocks are separated by blank lines. Headers, footers, comments and text
boxes are not read.
"""

from __future__ import annotations

import io
import re

import docx
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from plait.rag.parse.base import ContentKind, DocumentMetadata, ParsedDocument, Sections, SourceDocument
from plait.rag.parse.ooxml import check_package
from plait.rag.parse.tables import markdown_table

_HEADING = re.compile(r"^heading ([1-9])$", re.IGNORECASE)


class DocxParser:
    name = "docx"
    description = "a Word document"
    extensions = frozenset({".docx"})
    mime_types = frozenset({"application/vnd.openxmlformats-officedocument.wordprocessingml.document"})
    accepts = frozenset({ContentKind.DOCX})

    def parse(self, source: SourceDocument) -> ParsedDocument:
        check_package(source)
        document = docx.Document(io.BytesIO(source.content))
        sections = Sections(source)
        blocks: list[str] = []
        size = 0
        for item in document.iter_inner_content():
            block = _table(item) if isinstance(item, Table) else _paragraph(item)
            if block:
                blocks.append(block)
                size += len(block) + 2
                sections.ensure_room(size)
        sections.add("", "\n\n".join(blocks))
        properties = document.core_properties
        return sections.document(
            DocumentMetadata(format=self.name, title=properties.title or None, author=properties.author or None)
        )


def _paragraph(paragraph: Paragraph) -> str:
    text = paragraph.text.strip()
    if not text:
        return ""
    style = paragraph.style
    style_name = (style.name or "") if style is not None else ""
    if heading := _HEADING.match(style_name):
        return "#" * int(heading.group(1)) + " " + text
    if style_name == "Title":
        return "# " + text
    if style_name.startswith("List"):
        return "- " + text
    return text


def _table(table: Table) -> str:
    rows: list[list[str]] = []
    for row in table.rows:
        cells = [""] * row.grid_cols_before
        previous: _Cell | None = None
        for cell in row.cells:
            # A horizontally merged cell comes once per column it spans: its text goes in the first.
            cells.append("" if cell is previous else _cell_text(cell))
            previous = cell
        rows.append(cells)
    return markdown_table(rows)


def _cell_text(cell: _Cell) -> str:
    parts = [_table(item) if isinstance(item, Table) else item.text for item in cell.iter_inner_content()]
    return "\n".join(part for part in parts if part.strip())
