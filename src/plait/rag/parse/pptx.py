"""PowerPoint (.pptx, .pptm) with python-pptx: each slide a section labelled with its number.

A slide's text is its shapes' text in reading order (top to bottom, then left to right),
groups opened, the title as a ``#`` heading and tables as Markdown tables. Speaker notes,
charts and text inside pictures are not read.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

from pptx import Presentation
from pptx.enum.shapes import PP_PLACEHOLDER
from pptx.shapes.base import BaseShape
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape

from plait.rag.parse.base import ContentKind, DocumentMetadata, ParsedDocument, Sections, SourceDocument
from plait.rag.parse.ooxml import check_package
from plait.rag.parse.tables import markdown_table

_TITLES = frozenset({PP_PLACEHOLDER.TITLE, PP_PLACEHOLDER.CENTER_TITLE, PP_PLACEHOLDER.VERTICAL_TITLE})


class PptxParser:
    name = "pptx"
    description = "a PowerPoint presentation"
    extensions = frozenset({".pptx", ".pptm"})
    mime_types = frozenset(
        {
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.ms-powerpoint.presentation.macroenabled.12",
        }
    )
    accepts = frozenset({ContentKind.PPTX})

    def parse(self, source: SourceDocument) -> ParsedDocument:
        check_package(source)
        presentation = Presentation(io.BytesIO(source.content))
        slides = presentation.slides
        source.check_pages(len(slides), "slides")
        sections = Sections(source)
        for number, slide in enumerate(slides, 1):
            sections.add(str(number), "\n\n".join(text for text in _texts(slide.shapes) if text.strip()))
        properties = presentation.core_properties
        return sections.document(
            DocumentMetadata(
                format=self.name,
                title=properties.title or None,
                author=properties.author or None,
                page_count=len(slides),
            )
        )


def _texts(shapes: Iterable[BaseShape]) -> Iterator[str]:
    for shape in sorted(shapes, key=lambda shape: (shape.top or 0, shape.left or 0)):
        if isinstance(shape, GroupShape):
            yield from _texts(shape.shapes)
        elif isinstance(shape, GraphicFrame) and shape.has_table:
            yield markdown_table([[cell.text for cell in row.cells] for row in shape.table.rows])
        elif shape.has_text_frame:
            text = shape.text_frame.text.replace("\v", "\n").strip()  # type: ignore[attr-defined]
            yield f"# {text}" if text and _is_title(shape) else text


def _is_title(shape: BaseShape) -> bool:
    return shape.is_placeholder and shape.placeholder_format.type in _TITLES
