"""CSV as a Markdown table, first row the header, as Dify shows it.

The encoding is detected like any text (Excel writes GBK or Shift-JIS on Chinese and
Japanese Windows); the delimiter is sniffed among comma, semicolon (European Excel), tab
and pipe, from the first lines.
"""

from __future__ import annotations

import csv
import io

from plait.rag.parse.base import TEXT_CONTENT, DocumentMetadata, ParsedDocument, Sections, SourceDocument
from plait.rag.parse.encoding import decode_text
from plait.rag.parse.tables import markdown_table

DELIMITERS = ",;\t|"
_SNIFF_CHARS = 64 * 1024


class CsvParser:
    name = "csv"
    description = "a CSV file"
    extensions = frozenset({".csv", ".tsv"})
    mime_types = frozenset({"text/csv", "application/csv", "text/tab-separated-values"})
    accepts = TEXT_CONTENT

    def parse(self, source: SourceDocument) -> ParsedDocument:
        decoded = decode_text(source)
        text = decoded.text
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
        sections = Sections(source)
        rows: list[list[str]] = []
        size = 0
        try:
            for row in reader:
                rows.append(row)
                size += sum(len(cell) + 3 for cell in row)
                sections.ensure_room(size)
        except csv.Error as error:
            raise source.unreadable(
                "corrupt", f"{source.filename} is not valid CSV at line {reader.line_num}: {error}", detail=str(error)
            ) from error
        sections.add("", markdown_table(rows))
        return sections.document(DocumentMetadata(format=self.name, encoding=decoded.encoding))


def sniff_delimiter(text: str) -> str:
    """The delimiter of ``text``: :class:`csv.Sniffer`'s guess, or the candidate that splits the first
    lines into the same number of fields most often, or a comma."""
    sample = text[:_SNIFF_CHARS]
    if len(text) > _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        pass
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        if not counts:
            continue
        common = max(set(counts), key=counts.count)
        score = (counts.count(common) / len(counts), common)
        if common > 1 and score > best_score:
            best, best_score = delimiter, score
    return best
