"""Which parser reads a file, and the checks every file passes on the way to it.

Built-in parsers are found the way plugins are: through the ``plait.parsers`` entry points
(see ``pyproject.toml``); each names a parser class built without arguments. A registry can
also be built from an explicit list (tests, or a caller that wants fewer formats).

:meth:`ParserRegistry.parse` is the boundary where failures become data: whatever a parser
or its library raises comes out as :class:`~plait.rag.parse.errors.DocumentUnreadable`.
On the way in, in order: the size limit, an empty file, the parser (the extension decides;
the declared MIME type is a hint used only when the extension says nothing; with neither,
the content does), and the sniffed content against what that parser reads. On the way
out: a document with no text at all is ``empty``, and one over ``max_chars`` is ``too_large``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import cache
from importlib.metadata import entry_points
from pathlib import PurePosixPath

from plait.rag.parse.base import (
    TEXT_CONTENT,
    ContentKind,
    ParsedDocument,
    ParseLimits,
    Parser,
    SourceDocument,
    format_size,
)
from plait.rag.parse.errors import DocumentUnreadable
from plait.rag.parse.sniff import sniff

ENTRY_POINT_GROUP = "plait.parsers"
DEFAULT_LIMITS = ParseLimits()

_OFFICE = frozenset({ContentKind.DOCX, ContentKind.XLSX, ContentKind.PPTX})
# Formats whose text may be in pictures, which nothing here reads.
_WITH_IMAGES = _OFFICE | {ContentKind.PDF}
# Kinds an Office application can save in the format the name asks for.
_RESAVABLE = frozenset(
    {
        ContentKind.LEGACY_DOC,
        ContentKind.LEGACY_XLS,
        ContentKind.LEGACY_PPT,
        ContentKind.LEGACY_OFFICE,
        ContentKind.WORD_VARIANT,
        ContentKind.POWERPOINT_VARIANT,
        ContentKind.XLSB,
        ContentKind.OPENDOCUMENT,
    }
)
# Formats people upload that no parser reads, and what to do instead.
_UNSUPPORTED: dict[str, str] = {
    ".doc": "legacy Word documents (.doc) are not supported; open it in Word or LibreOffice, save it as .docx",
    ".xls": "legacy Excel workbooks (.xls) are not supported; open it in Excel or LibreOffice, save it as .xlsx",
    ".ppt": "legacy PowerPoint files (.ppt) are not supported; open it in PowerPoint or LibreOffice, save it as .pptx",
}


class ParserRegistry:
    def __init__(self, parsers: Iterable[Parser]) -> None:
        self._parsers: list[Parser] = []
        self._by_extension: dict[str, Parser] = {}
        self._by_mime_type: dict[str, Parser] = {}
        for parser in parsers:
            self._parsers.append(parser)
            for extension in parser.extensions:
                _claim(self._by_extension, extension.lower(), parser, "extension")
            for mime_type in parser.mime_types:
                _claim(self._by_mime_type, mime_type.lower(), parser, "MIME type")

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> ParserRegistry:
        parsers: list[Parser] = []
        for entry in entry_points(group=group):
            factory = entry.load()
            parser = factory() if isinstance(factory, type) else None
            if parser is None or not callable(getattr(parser, "parse", None)):
                raise TypeError(f"entry point {entry.name} = {entry.value} is not a parser class")
            parsers.append(parser)
        return cls(parsers)

    @property
    def extensions(self) -> frozenset[str]:
        return frozenset(self._by_extension)

    def parser_for(self, filename: str, mime_type: str | None = None, kind: ContentKind | None = None) -> Parser | None:
        """The extension's parser; else the MIME type's; else, for a name with no extension, the sniffed content's."""
        extension = PurePosixPath(filename).suffix.lower()
        if extension in self._by_extension:
            return self._by_extension[extension]
        if extension in _UNSUPPORTED:
            return None  # "report.doc" sent as a .docx type is still a .doc
        if mime_type:
            found = self._by_mime_type.get(mime_type.split(";", 1)[0].strip().lower())
            if found is not None:
                return found
        if not extension and kind is not None and kind not in TEXT_CONTENT:
            return next((parser for parser in self._parsers if kind in parser.accepts), None)
        return None

    def parse(
        self, content: bytes, *, filename: str, mime_type: str | None = None, limits: ParseLimits = DEFAULT_LIMITS
    ) -> ParsedDocument:
        """Parse one file; synchronous and CPU-bound (see :meth:`parse_async`)."""
        source = SourceDocument(content, _display_name(filename), limits)
        name = source.filename
        if len(content) > limits.max_bytes:
            raise source.unreadable(
                "too_large",
                f"{name} is {format_size(len(content))}; the limit is {format_size(limits.max_bytes)}",
            )
        if not content:
            raise source.unreadable("empty", f"{name} is empty (0 bytes); upload the file again")
        kind = sniff(content)
        parser = self.parser_for(name, mime_type, kind)
        if parser is None:
            raise self._unsupported(source)
        _check_content(source, parser, kind)
        try:
            document = parser.parse(source)
        except DocumentUnreadable:
            raise
        except RecursionError as error:
            raise source.unreadable(
                "corrupt", f"{name} is nested too deeply to be read as {parser.description}", detail=repr(error)
            ) from error
        except MemoryError as error:
            raise source.unreadable("too_large", f"{name} is too large to read", detail=repr(error)) from error
        except Exception as error:
            raise source.unreadable(
                "corrupt",
                f"{name} could not be read as {parser.description}; the file looks damaged. "
                "Open it, save it again and upload it",
                detail=f"{type(error).__name__}: {error}",
            ) from error
        if not document.text.strip():
            images = " Text inside images (a scan, a photo) is not read: OCR is not available"
            raise source.unreadable(
                "empty", f"No text was found in {name}.{images if parser.accepts & _WITH_IMAGES else ''}"
            )
        if len(document.text) > limits.max_chars:
            raise source.unreadable(
                "too_large",
                f"{name} has more than {limits.max_chars:,} characters of text; "
                "split it into smaller files and upload them again",
            )
        return document

    async def parse_async(
        self, content: bytes, *, filename: str, mime_type: str | None = None, limits: ParseLimits = DEFAULT_LIMITS
    ) -> ParsedDocument:
        """:meth:`parse` in a worker thread, so the event loop keeps serving while a PDF is read."""
        return await asyncio.to_thread(self.parse, content, filename=filename, mime_type=mime_type, limits=limits)

    def _unsupported(self, source: SourceDocument) -> DocumentUnreadable:
        extension = PurePosixPath(source.filename).suffix.lower()
        advice = _UNSUPPORTED.get(extension)
        if advice is not None:
            return source.unreadable("unsupported_type", f"{source.filename}: {advice} and upload it again")
        supported = ", ".join(sorted(self._by_extension))
        kind = f"{extension} files are" if extension else "files without an extension are"
        return source.unreadable(
            "unsupported_type", f"{source.filename} cannot be read: {kind} not supported (supported: {supported})"
        )


@cache
def default_registry() -> ParserRegistry:
    """The registry of every installed parser, built once from the entry points."""
    return ParserRegistry.from_entry_points()


def parse_document(
    content: bytes, *, filename: str, mime_type: str | None = None, limits: ParseLimits = DEFAULT_LIMITS
) -> ParsedDocument:
    return default_registry().parse(content, filename=filename, mime_type=mime_type, limits=limits)


async def parse_document_async(
    content: bytes, *, filename: str, mime_type: str | None = None, limits: ParseLimits = DEFAULT_LIMITS
) -> ParsedDocument:
    return await default_registry().parse_async(content, filename=filename, mime_type=mime_type, limits=limits)


def _check_content(source: SourceDocument, parser: Parser, kind: ContentKind) -> None:
    if kind in parser.accepts:
        return
    name = source.filename
    if kind is ContentKind.ENCRYPTED_OFFICE:
        raise source.unreadable("encrypted", f"{name} is password-protected; remove the password and upload it again")
    office = bool(parser.accepts & _OFFICE)
    if office and kind in _RESAVABLE:
        extension = PurePosixPath(name).suffix.lower()
        target = extension if extension in parser.extensions else parser.description
        raise source.unreadable(
            "type_mismatch",
            f"{name} is {kind.value}, not {parser.description}: open it in Office or LibreOffice, "
            f"save it as {target} and upload it again",
        )
    if office and kind is ContentKind.BROKEN_ZIP:
        raise source.unreadable(
            "corrupt",
            f"{name} is damaged: its ZIP structure cannot be read (the file may be truncated); "
            "save it again and upload it",
        )
    if kind is ContentKind.UNKNOWN:
        raise source.unreadable(
            "corrupt", f"{name} is damaged or is not {parser.description}: its content is unrecognisable"
        )
    raise source.unreadable("type_mismatch", f"{name} is not {parser.description} (its content is {kind.value})")


def _claim(table: dict[str, Parser], key: str, parser: Parser, what: str) -> None:
    holder = table.get(key)
    if holder is not None and holder is not parser:
        raise ValueError(f"parsers {holder.name!r} and {parser.name!r} both claim the {what} {key!r}")
    table[key] = parser


def _display_name(filename: str) -> str:
    """The file's own name for messages, without any directories a client put in front."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or "unnamed file"
