"""Files to text: the parse stage of the knowledge pipeline and of the document-extractor node.

    from plait.rag.parse import ParseLimits, parse_document, parse_document_async

    document = parse_document(content, filename="report.pdf")          # CPU-bound: call it in a thread
    document = await parse_document_async(content, filename="report.pdf")
    document.text, document.sections, document.metadata

Formats (one module each, registered through the ``plait.parsers`` entry points): plain
text, Markdown, PDF, Word (.docx), HTML, CSV, Excel (.xlsx), PowerPoint (.pptx), JSON.
Every failure is a :class:`DocumentUnreadable` with a ``reason`` (``empty``, ``corrupt``,
``encrypted``, ``too_large``, ``unsupported_type``, ``type_mismatch``) and a message that
names the file; nothing else escapes. See :mod:`plait.rag.parse.registry` for the checks
every file passes and :class:`ParseLimits` for what a document may cost.
"""

from plait.rag.parse.base import (
    ContentKind,
    DocumentMetadata,
    ParsedDocument,
    ParseLimits,
    Parser,
    Section,
    SourceDocument,
)
from plait.rag.parse.errors import REASONS, DocumentUnreadable, UnreadableReason
from plait.rag.parse.registry import (
    DEFAULT_LIMITS,
    ENTRY_POINT_GROUP,
    ParserRegistry,
    default_registry,
    parse_document,
    parse_document_async,
)

__all__ = [
    "DEFAULT_LIMITS",
    "ENTRY_POINT_GROUP",
    "REASONS",
    "ContentKind",
    "DocumentMetadata",
    "DocumentUnreadable",
    "ParseLimits",
    "ParsedDocument",
    "Parser",
    "ParserRegistry",
    "Section",
    "SourceDocument",
    "UnreadableReason",
    "default_registry",
    "parse_document",
    "parse_document_async",
]
