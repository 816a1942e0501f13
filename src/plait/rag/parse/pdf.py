"""PDF, page by page, with pypdf: each page's text is one section labelled with its number.

A PDF with only an owner password (printing or copying restricted) opens with the empty
user password, as every viewer opens it; one that needs a password to open is
``encrypted``. A scan has pages but no text: the registry reports it ``empty``.
"""

from __future__ import annotations

import io
from contextlib import suppress

from pypdf import PasswordType, PdfReader
from pypdf.errors import FileNotDecryptedError, LimitReachedError, PdfReadError, PyPdfError

from plait.rag.parse.base import ContentKind, DocumentMetadata, ParsedDocument, Sections, SourceDocument
from plait.rag.parse.errors import DocumentUnreadable


class PdfParser:
    name = "pdf"
    description = "a PDF"
    extensions = frozenset({".pdf"})
    mime_types = frozenset({"application/pdf", "application/x-pdf"})
    accepts = frozenset({ContentKind.PDF})

    def parse(self, source: SourceDocument) -> ParsedDocument:
        try:
            return self._read(source)
        except FileNotDecryptedError as error:
            raise _encrypted(source) from error
        except LimitReachedError as error:
            raise source.unreadable(
                "too_large", f"{source.filename} holds more compressed data than can be read", detail=str(error)
            ) from error
        except PdfReadError as error:
            raise source.unreadable(
                "corrupt",
                f"{source.filename} is a damaged PDF ({error}); open it, save or print it to PDF again and upload it",
                detail=repr(error),
            ) from error

    def _read(self, source: SourceDocument) -> ParsedDocument:
        reader = PdfReader(io.BytesIO(source.content))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise _encrypted(source)
        pages = reader.pages
        source.check_pages(len(pages))
        sections = Sections(source)
        for number, page in enumerate(pages, 1):
            sections.add(str(number), page.extract_text())
        title = author = None
        # A broken information dictionary costs the title, not the document.
        with suppress(PyPdfError, KeyError, ValueError, TypeError, AttributeError):
            info = reader.metadata
            if info is not None:
                title, author = info.title, info.author
        return sections.document(
            DocumentMetadata(format=self.name, title=title or None, author=author or None, page_count=len(pages))
        )


def _encrypted(source: SourceDocument) -> DocumentUnreadable:
    return source.unreadable("encrypted", f"{source.filename} is encrypted; remove the password and upload it again")
