"""A parser for tests: it reads any bytes of the formats it is told, and answers as told.

Callers of the parse stage (the document-extractor node, dataset indexing) use it to drive
their own paths (a given text, a given failure) without building real files; tests of the
registry use it as a plugin would be.
"""

from __future__ import annotations

from collections.abc import Sequence

from plait.rag.parse.base import (
    TEXT_CONTENT,
    ContentKind,
    DocumentMetadata,
    ParsedDocument,
    Sections,
    SourceDocument,
)
from plait.rag.parse.errors import DocumentUnreadable, UnreadableReason


class FakeParser:
    """Answers every file with ``sections`` (label, text pairs) or, given ``fail_with``, with that failure.

    Without ``sections`` the text is the file's bytes as UTF-8. ``raises`` makes ``parse``
    raise that exception as it is, to exercise the registry's translation of library errors.
    """

    def __init__(
        self,
        *,
        name: str = "fake",
        extensions: Sequence[str] = (".fake",),
        mime_types: Sequence[str] = (),
        accepts: frozenset[ContentKind] = TEXT_CONTENT,
        sections: Sequence[tuple[str, str]] | None = None,
        fail_with: UnreadableReason | None = None,
        raises: Exception | None = None,
    ) -> None:
        self.name = name
        self.description = f"a {name} file"
        self.extensions = frozenset(extensions)
        self.mime_types = frozenset(mime_types)
        self.accepts = accepts
        self._sections = sections
        self._fail_with = fail_with
        self._raises = raises
        self.parsed: list[SourceDocument] = []

    def parse(self, source: SourceDocument) -> ParsedDocument:
        self.parsed.append(source)
        if self._raises is not None:
            raise self._raises
        if self._fail_with is not None:
            raise DocumentUnreadable(self._fail_with, f"{source.filename} failed as told", filename=source.filename)
        sections = Sections(source)
        for label, text in self._sections or [("", source.content.decode("utf-8", "replace"))]:
            sections.add(label, text)
        return sections.document(DocumentMetadata(format=self.name))
