"""Plain text in any encoding (see :mod:`plait.rag.parse.encoding`): the file is the text."""

from __future__ import annotations

from plait.rag.parse.base import TEXT_CONTENT, DocumentMetadata, ParsedDocument, Sections, SourceDocument
from plait.rag.parse.encoding import decode_text


class TextParser:
    name = "text"
    description = "a text file"
    extensions = frozenset({".txt", ".text", ".log", ".vtt", ".properties"})
    mime_types = frozenset({"text/plain", "text/vtt"})
    accepts = TEXT_CONTENT

    def parse(self, source: SourceDocument) -> ParsedDocument:
        decoded = decode_text(source)
        sections = Sections(source)
        sections.add("", decoded.text)
        return sections.document(DocumentMetadata(format=self.name, encoding=decoded.encoding))
