"""Rows of cells as a Markdown (GFM) table: how every tabular format comes out as text.

The first row is the header, as Dify renders CSV, sheets and Word tables. Cells keep their
text on one line (a newline becomes ``<br>``, a pipe is escaped) so the table stays a
table; short rows are padded and rows with no text at all are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(rows: Iterable[Sequence[str]]) -> str:
    kept = [[_cell(value) for value in row] for row in rows if any(value.strip() for value in row)]
    if not kept:
        return ""
    width = max(len(row) for row in kept)
    lines = [_line(kept[0], width), "| " + " | ".join(["---"] * width) + " |"]
    lines.extend(_line(row, width) for row in kept[1:])
    return "\n".join(lines)


def _line(cells: Sequence[str], width: int) -> str:
    return "| " + " | ".join([*cells, *[""] * (width - len(cells))]) + " |"


def _cell(value: str) -> str:
    return value.strip().replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>").replace("|", "\\|")
