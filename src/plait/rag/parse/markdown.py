"""Markdown is already the text Plait wants: kept as written, newlines normalised.

The title is the first level-one ATX heading (``# Title``), outside fenced code.
"""

from __future__ import annotations

import re
from dataclasses import replace

from plait.rag.parse.base import TEXT_CONTENT, DocumentMetadata, ParsedDocument, Sections, SourceDocument
from plait.rag.parse.encoding import decode_text

_TITLE = re.compile(r"^ {0,3}#[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


class MarkdownParser:
    name = "markdown"
    description = "a Markdown file"
    extensions = frozenset({".md", ".markdown", ".mdx"})
    mime_types = frozenset({"text/markdown", "text/x-markdown"})
    accepts = TEXT_CONTENT

    def parse(self, source: SourceDocument) -> ParsedDocument:
        decoded = decode_text(source)
        sections = Sections(source)
        sections.add("", decoded.text)
        document = sections.document(DocumentMetadata(format=self.name, encoding=decoded.encoding))
        return document if not document.text else _with_title(document)


def _with_title(document: ParsedDocument) -> ParsedDocument:
    in_fence = False
    for line in document.text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (match := _TITLE.match(line)):
            metadata = replace(document.metadata, title=match.group(1))
            return ParsedDocument(document.text, document.sections, metadata=metadata)
    return document
