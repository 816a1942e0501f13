"""JSON as Dify's document extractor shows it: pretty-printed, two spaces, non-ASCII kept."""

from __future__ import annotations

import json

from plait.rag.parse.base import TEXT_CONTENT, DocumentMetadata, ParsedDocument, Sections, SourceDocument
from plait.rag.parse.encoding import decode_text


class JsonParser:
    name = "json"
    description = "a JSON file"
    extensions = frozenset({".json"})
    mime_types = frozenset({"application/json", "text/json"})
    accepts = TEXT_CONTENT

    def parse(self, source: SourceDocument) -> ParsedDocument:
        decoded = decode_text(source)
        try:
            value = json.loads(decoded.text)
        except json.JSONDecodeError as error:
            raise source.unreadable(
                "corrupt",
                f"{source.filename} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}",
                detail=str(error),
            ) from error
        except RecursionError as error:
            raise source.unreadable("corrupt", f"{source.filename} is JSON nested too deeply to read") from error
        except ValueError as error:
            # An integer past Python's 4300-digit conversion limit.
            raise source.unreadable("corrupt", f"{source.filename} is JSON that cannot be read: {error}") from error
        sections = Sections(source)
        sections.add("", json.dumps(value, indent=2, ensure_ascii=False))
        return sections.document(DocumentMetadata(format=self.name, encoding=decoded.encoding))
