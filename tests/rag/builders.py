"""Real documents for the parser tests, written in the test with the libraries that write them.

Each builder returns the file's bytes. The Office formats come from python-docx, openpyxl
and python-pptx, PDFs from fpdf2 (and pypdf for encryption); the damaged and crafted ones
start from those and are altered the way a truncated upload or an attacker alters them.
"""

from __future__ import annotations

import io
import struct
import subprocess
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import docx
import openpyxl
import pytest
from fpdf import FPDF
from PIL import Image
from pptx import Presentation
from pypdf import PdfReader, PdfWriter

from plait.rag.parse import (
    DEFAULT_LIMITS,
    DocumentUnreadable,
    ParsedDocument,
    ParseLimits,
    ParserRegistry,
    UnreadableReason,
    default_registry,
    parse_document,
)

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def unreadable(
    reason: UnreadableReason,
    content: bytes,
    filename: str,
    *,
    mime_type: str | None = None,
    limits: ParseLimits = DEFAULT_LIMITS,
    registry: ParserRegistry | None = None,
) -> DocumentUnreadable:
    """Parse, expecting exactly ``reason``, and a message that names the file."""
    with pytest.raises(DocumentUnreadable) as caught:
        (registry or default_registry()).parse(content, filename=filename, mime_type=mime_type, limits=limits)
    error = caught.value
    assert error.reason == reason, error.message
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    assert name in error.message
    assert error.filename == name
    return error


def parsed(content: bytes, filename: str, *, limits: ParseLimits = DEFAULT_LIMITS) -> ParsedDocument:
    return parse_document(content, filename=filename, limits=limits)


# --- PDF ---------------------------------------------------------------------------------


def pdf(
    pages: Sequence[str], *, title: str | None = None, author: str | None = None, font: Path | None = None
) -> bytes:
    document = FPDF()
    if title:
        document.set_title(title)
    if author:
        document.set_author(author)
    if font is not None:
        document.add_font("body", fname=str(font))
    for text in pages:
        document.add_page()
        document.set_font("body" if font is not None else "helvetica", size=12)
        for line in filter(None, text.split("\n")):
            document.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    return bytes(document.output())


def image_only_pdf() -> bytes:
    """A "scan": one page holding a picture of text and no text at all."""
    picture = io.BytesIO()
    Image.new("RGB", (200, 80), "white").save(picture, format="PNG")
    document = FPDF()
    document.add_page()
    document.image(picture, x=10, y=10, w=100)
    return bytes(document.output())


def encrypted_pdf(source: bytes, *, user_password: str, owner_password: str = "owner-secret") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(source)))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def cjk_font() -> Path | None:
    """A TrueType font with Chinese glyphs on this machine (fpdf2 needs one to write CJK), or None."""
    try:
        listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    candidates = [Path(line.split(":")[0].strip()) for line in listed.splitlines() if line.strip()]
    candidates += sorted(Path("/usr/share/fonts").rglob("*[Cc][Jj][Kk]*")) if Path("/usr/share/fonts").exists() else []
    # fpdf2 reads .ttf and .otf files, not .ttc collections.
    return next((path for path in candidates if path.suffix.lower() in (".ttf", ".otf") and path.exists()), None)


# --- Office ------------------------------------------------------------------------------


def saved(document: object) -> bytes:
    out = io.BytesIO()
    document.save(out)  # type: ignore[attr-defined]
    return out.getvalue()


def word(build: Callable[[docx.document.Document], None] | None = None) -> bytes:
    document = docx.Document()
    if build is None:
        document.add_paragraph("Hello from Word.")
    else:
        build(document)
    return saved(document)


def workbook(sheets: dict[str, list[list[object]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    return saved(book)


def presentation(slides: Sequence[tuple[str, str]]) -> bytes:
    deck = Presentation()
    for title, body in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    return saved(deck)


def rezipped(package: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """``package`` with some members replaced or added (deflated), the rest copied as they are."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = (replace or {}).get(info.filename, source.read(info))
            target.writestr(info.filename, data)
        for name, data in (add or {}).items():
            target.writestr(name, data)
    return out.getvalue()


def with_declared_size(package: bytes, member: str, size: int) -> bytes:
    """``package`` whose central directory claims ``member`` unpacks to ``size`` bytes (a crafted bomb)."""
    data = bytearray(package)
    name = member.encode()
    offset = data.find(b"PK\x01\x02")
    while offset != -1:
        name_length = struct.unpack_from("<H", data, offset + 28)[0]
        if data[offset + 46 : offset + 46 + name_length] == name:
            struct.pack_into("<I", data, offset + 24, size)
            return bytes(data)
        offset = data.find(b"PK\x01\x02", offset + 46)
    raise AssertionError(f"{member} is not in the package")


def ole2(stream_name: str) -> bytes:
    """The start of an OLE2 compound file (what Office 97-2003 writes) whose directory names one stream.

    Only what sniffing reads: the header's magic number, and a directory entry holding the
    stream's name in UTF-16, as in a real .doc ("WordDocument") or .xls ("Workbook").
    """
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + struct.pack("<HHH", 0x3E, 3, 0xFFFE) + bytes(482)
    name = stream_name.encode("utf-16-le") + b"\x00\x00"
    entry = name.ljust(64, b"\x00") + struct.pack("<H", len(name)) + b"\x02\x01" + bytes(60)
    return header + entry.ljust(512, b"\x00") + bytes(1024)
