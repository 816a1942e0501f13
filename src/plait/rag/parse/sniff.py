"""What a file's bytes are, whatever its name says.

Read from the first bytes (magic numbers) and, for a ZIP, from the package's
``[Content_Types].xml``, which names the main part of an Office Open XML file: a
``.docx`` that is really a workbook says so there. OLE2 containers (legacy ``.doc``,
``.xls``, ``.ppt``, and password-protected Office files of any era) are told apart by the
names of their streams, which the container stores as UTF-16.
"""

from __future__ import annotations

import codecs
import io
import zipfile
import zlib
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

from plait.rag.parse.base import MIB, ContentKind

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
CONTENT_TYPES_PART = "[Content_Types].xml"
_CONTENT_TYPES_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
# [Content_Types].xml is a few KiB; a larger one is not worth reading to name the file.
_MAX_CONTENT_TYPES_BYTES = MIB
_TEXT_SAMPLE_BYTES = 8192

_SIGNATURES: tuple[tuple[bytes, ContentKind], ...] = (
    (b"\x89PNG\r\n\x1a\n", ContentKind.PNG),
    (b"\xff\xd8\xff", ContentKind.JPEG),
    (b"GIF87a", ContentKind.GIF),
    (b"GIF89a", ContentKind.GIF),
    (b"\x1f\x8b", ContentKind.COMPRESSED),
    (b"7z\xbc\xaf\x27\x1c", ContentKind.COMPRESSED),
    (b"Rar!\x1a\x07", ContentKind.COMPRESSED),
)
_TEXT_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)

_MAIN_PARTS: dict[str, ContentKind] = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": ContentKind.DOCX,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml": ContentKind.WORD_VARIANT,
    "application/vnd.ms-word.document.macroenabled.main+xml": ContentKind.WORD_VARIANT,
    "application/vnd.ms-word.template.macroenabledtemplate.main+xml": ContentKind.WORD_VARIANT,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": ContentKind.XLSX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": ContentKind.XLSX,
    "application/vnd.ms-excel.sheet.macroenabled.main+xml": ContentKind.XLSX,
    "application/vnd.ms-excel.template.macroenabled.main+xml": ContentKind.XLSX,
    "application/vnd.ms-excel.sheet.binary.macroenabled.main": ContentKind.XLSB,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": ContentKind.PPTX,
    "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml": ContentKind.PPTX,
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml": ContentKind.POWERPOINT_VARIANT,
    "application/vnd.ms-powerpoint.slideshow.macroenabled.main+xml": ContentKind.POWERPOINT_VARIANT,
    "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml": ContentKind.POWERPOINT_VARIANT,
    "application/vnd.ms-powerpoint.template.macroenabled.main+xml": ContentKind.POWERPOINT_VARIANT,
}

# Stream names inside an OLE2 container, most specific first: an encrypted OOXML file is an
# OLE2 container holding "EncryptedPackage", whatever application wrote it.
_OLE2_STREAMS: tuple[tuple[str, ContentKind], ...] = (
    ("EncryptedPackage", ContentKind.ENCRYPTED_OFFICE),
    ("PowerPoint Document", ContentKind.LEGACY_PPT),
    ("WordDocument", ContentKind.LEGACY_DOC),
    ("Workbook", ContentKind.LEGACY_XLS),
)


def sniff(content: bytes) -> ContentKind:
    if content[:1024].lstrip(b"\x00\t\n\r\f ").startswith(b"%PDF-"):
        return ContentKind.PDF
    if content.startswith(ZIP_MAGICS):
        return _sniff_zip(content)
    if content.startswith(OLE2_MAGIC):
        return _sniff_ole2(content)
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return ContentKind.WEBP
    for magic, kind in _SIGNATURES:
        if content.startswith(magic):
            return kind
    return _sniff_text(content)


def _sniff_zip(content: bytes) -> ContentKind:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
            if CONTENT_TYPES_PART in names:
                info = archive.getinfo(CONTENT_TYPES_PART)
                if info.file_size > _MAX_CONTENT_TYPES_BYTES:
                    return ContentKind.BROKEN_ZIP
                return _main_part_kind(archive.read(info))
            if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
                mimetype = archive.read("mimetype").decode("ascii", "replace").strip()
                if mimetype == "application/epub+zip":
                    return ContentKind.EPUB
                if mimetype.startswith("application/vnd.oasis.opendocument."):
                    return ContentKind.OPENDOCUMENT
            return ContentKind.ZIP
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError):
        # Truncated or damaged archives fail in many ways: a bad central directory, a CRC
        # error, a broken deflate stream, an encrypted member, a compression method
        # zipfile lacks (NotImplementedError, a RuntimeError).
        return ContentKind.BROKEN_ZIP


def _main_part_kind(content_types: bytes) -> ContentKind:
    try:
        root = fromstring(content_types)
    except (ParseError, DefusedXmlException, ValueError):
        return ContentKind.BROKEN_ZIP
    for element in root:
        if element.tag in (f"{_CONTENT_TYPES_NS}Override", f"{_CONTENT_TYPES_NS}Default"):
            kind = _MAIN_PARTS.get(str(element.get("ContentType", "")).lower())
            if kind is not None:
                return kind
    return ContentKind.ZIP


def _sniff_ole2(content: bytes) -> ContentKind:
    for stream, kind in _OLE2_STREAMS:
        if stream.encode("utf-16-le") in content:
            return kind
    return ContentKind.LEGACY_OFFICE


def _sniff_text(content: bytes) -> ContentKind:
    if content.startswith(_TEXT_BOMS):
        return ContentKind.TEXT
    sample = content[:_TEXT_SAMPLE_BYTES]
    if b"\x00" in sample:
        return ContentKind.UNKNOWN
    try:
        # Not final: the sample may end in the middle of a character.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return ContentKind.UNKNOWN
    return ContentKind.TEXT
