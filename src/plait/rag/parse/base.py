"""The types of document parsing: what goes in, what comes out, what a parser is.

A parser turns one format's bytes into a :class:`ParsedDocument`: the whole text, the
format's natural units as :class:`Section` (PDF pages, PPTX slides, XLSX sheets; one
section for the others), and :class:`DocumentMetadata`. Parsers are found through the
``plait.parsers`` entry points (see :mod:`plait.rag.parse.registry`), built-in or plugin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Protocol

from plait.errors import ConfigurationError
from plait.rag.parse.errors import DocumentUnreadable, UnreadableReason

MIB = 1024 * 1024
# Sections are joined with one blank line, the way headings and paragraphs are.
SECTION_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseLimits:
    """How much work one document may cost; exceeding any limit fails with ``too_large``.

    ``max_bytes`` is Dify's default upload limit. ``max_chars`` fails instead of truncating,
    because a silently cut document answers questions wrongly. The ZIP limits guard the
    Office formats against decompression bombs before any XML is read: the sum of the sizes
    the archive declares, and the compression ratio of any member over 1 MiB (XML rarely
    compresses beyond 30:1; a bomb is near deflate's 1032:1).
    """

    max_bytes: int = 15 * MIB
    max_pages: int = 2000
    max_chars: int = 10_000_000
    max_unpacked_bytes: int = 256 * MIB
    max_compression_ratio: int = 200
    max_zip_entries: int = 10_000

    def __post_init__(self) -> None:
        for limit in fields(self):
            if getattr(self, limit.name) < 1:
                raise ConfigurationError(f"parse limit {limit.name} must be at least 1")


class ContentKind(Enum):
    """What a file's bytes are, whatever its name says; the value completes "its content is ..."."""

    PDF = "a PDF"
    DOCX = "a Word document"
    WORD_VARIANT = "a macro-enabled Word document or a Word template"
    ENCRYPTED_OFFICE = "a password-protected Office document"
    XLSX = "an Excel workbook"
    XLSB = "a binary Excel workbook (.xlsb)"
    PPTX = "a PowerPoint presentation"
    POWERPOINT_VARIANT = "a PowerPoint slide show or template"
    OPENDOCUMENT = "an OpenDocument file (LibreOffice)"
    EPUB = "an EPUB book"
    ZIP = "a ZIP archive"
    BROKEN_ZIP = "a damaged ZIP archive"
    LEGACY_DOC = "a legacy Word document (.doc)"
    LEGACY_XLS = "a legacy Excel workbook (.xls)"
    LEGACY_PPT = "a legacy PowerPoint presentation (.ppt)"
    LEGACY_OFFICE = "a legacy Office file"
    PNG = "a PNG image"
    JPEG = "a JPEG image"
    GIF = "a GIF image"
    WEBP = "a WebP image"
    COMPRESSED = "a compressed archive (gzip, 7z or RAR)"
    TEXT = "plain text"
    UNKNOWN = "unrecognised binary data"


# What the text formats accept: bytes with no known binary signature. Whether they are
# text in some encoding is for the decoder to find out (GBK has no signature).
TEXT_CONTENT = frozenset({ContentKind.TEXT, ContentKind.UNKNOWN})


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One file handed to a parser: its bytes, the name the user gave it, and the limits."""

    content: bytes
    filename: str
    limits: ParseLimits

    def unreadable(self, reason: UnreadableReason, message: str, *, detail: str | None = None) -> DocumentUnreadable:
        return DocumentUnreadable(reason, message, filename=self.filename, detail=detail)

    def check_pages(self, count: int, unit: str = "pages") -> None:
        if count > self.limits.max_pages:
            raise self.unreadable(
                "too_large",
                f"{self.filename} has {count:,} {unit}; at most {self.limits.max_pages:,} can be read. "
                "Split it into smaller files and upload them again",
            )


@dataclass(frozen=True, slots=True)
class Section:
    """A unit of a document: ``label`` is a page or slide number, or a sheet name ("" when the
    format has no units)."""

    label: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentMetadata:
    """``format`` is the parser's name; ``page_count`` is set for PDF pages and PPTX slides,
    ``encoding`` for the text formats (the codec the bytes were decoded with)."""

    format: str
    title: str | None = None
    author: str | None = None
    page_count: int | None = None
    encoding: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """``text`` is every section's text joined by a blank line; sections with no text are left out."""

    text: str
    sections: tuple[Section, ...]
    metadata: DocumentMetadata = field(kw_only=True)

    @classmethod
    def from_sections(cls, sections: Iterable[Section], metadata: DocumentMetadata) -> ParsedDocument:
        kept = tuple(section for section in sections if section.text)
        return cls(SECTION_SEPARATOR.join(section.text for section in kept), kept, metadata=metadata)


class Parser(Protocol):
    """One document format.

    ``accepts`` lists the content kinds the parser reads; the registry checks the sniffed
    bytes against it before calling :meth:`parse`, so a parser only sees bytes that look
    like its format. ``description`` completes "report.pdf is not ..." ("a PDF").
    ``parse`` may raise anything: the registry turns unexpected exceptions into
    ``DocumentUnreadable("corrupt", ...)``, but a parser that knows better raises it itself.
    """

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def extensions(self) -> frozenset[str]: ...
    @property
    def mime_types(self) -> frozenset[str]: ...
    @property
    def accepts(self) -> frozenset[ContentKind]: ...

    def parse(self, source: SourceDocument) -> ParsedDocument: ...


class Sections:
    """Collects a document's sections, enforcing ``max_chars`` as they come rather than after."""

    def __init__(self, source: SourceDocument) -> None:
        self._source = source
        self._sections: list[Section] = []
        self._chars = 0

    def ensure_room(self, chars: int) -> None:
        """Fail now if ``chars`` more characters would exceed the limit (for long units built piece by piece)."""
        if self._chars + chars > self._source.limits.max_chars:
            raise self._source.unreadable(
                "too_large",
                f"{self._source.filename} has more than {self._source.limits.max_chars:,} characters of text; "
                "split it into smaller files and upload them again",
            )

    def add(self, label: str, text: str) -> None:
        text = normalise_text(text)
        if not text:
            return
        separator = len(SECTION_SEPARATOR) if self._sections else 0
        self.ensure_room(separator + len(text))
        self._chars += separator + len(text)
        self._sections.append(Section(label, text))

    def document(self, metadata: DocumentMetadata) -> ParsedDocument:
        return ParsedDocument.from_sections(self._sections, metadata)


def normalise_text(text: str) -> str:
    """Unix newlines, no NUL characters (databases refuse them), no surrounding blank space."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()


def format_size(size: int) -> str:
    if size >= 1024 * MIB:
        return f"{size / (1024 * MIB):.1f} GiB"
    if size >= MIB:
        return f"{size / MIB:.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} bytes"
