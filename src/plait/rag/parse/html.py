"""HTML as readable text: what a person sees, without scripts, styles or markup.

Block elements are separated by blank lines, line breaks kept, headings marked with ``#``
and list items with ``-`` (or their number), tables rendered as Markdown tables; links keep
their text. Whitespace from the source's own formatting is collapsed as a browser would,
except inside ``<pre>``. The encoding comes from a byte-order mark, else UTF-8, else the
page's ``<meta charset>``, else detection.

The tree is walked once, iteratively, with an explicit stack: editing a BeautifulSoup tree
(``insert_before``...) costs time in the depth of the tree, so marking thousands of nested
``<div>`` that way is quadratic. Structure is written as private-use marker characters
while walking, because the source's own whitespace is collapsed afterwards and must not
swallow the breaks that structure calls for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bs4 import BeautifulSoup
from bs4.dammit import EncodingDetector
from bs4.element import CData, NavigableString, PageElement, PreformattedString, Tag

from plait.rag.parse.base import TEXT_CONTENT, DocumentMetadata, ParsedDocument, Sections, SourceDocument
from plait.rag.parse.encoding import decode_text
from plait.rag.parse.tables import markdown_table

_BLOCK_BREAK = "\ue000"
_LINE_BREAK = "\ue001"
_PRE_SPACE = "\ue002"
_PRE_TAB = "\ue003"
_MARKERS = {ord(marker): None for marker in (_BLOCK_BREAK, _LINE_BREAK, _PRE_SPACE, _PRE_TAB)}
_PRESERVED = str.maketrans({"\n": _LINE_BREAK, " ": _PRE_SPACE, "\t": _PRE_TAB})

_INVISIBLE = frozenset({"script", "style", "noscript", "template", "head", "svg", "canvas", "iframe", "object"})
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "details", "dialog", "div", "dl", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr",
        "main", "nav", "ol", "p", "pre", "section", "summary", "table", "ul",
    }
)  # fmt: skip
_LINES = frozenset({"li", "dt", "dd"})
_HEADINGS = {f"h{level}": "#" * level + " " for level in range(1, 7)}
_PREFORMATTED = frozenset({"pre", "textarea"})
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")
_CELL_BREAKS = re.compile(r" *\n[\n ]*")


class HtmlParser:
    name = "html"
    description = "an HTML page"
    extensions = frozenset({".html", ".htm", ".xhtml"})
    mime_types = frozenset({"text/html", "application/xhtml+xml"})
    accepts = TEXT_CONTENT

    def parse(self, source: SourceDocument) -> ParsedDocument:
        declared = EncodingDetector.find_declared_encoding(source.content[:4096], is_html=True)
        decoded = decode_text(source, declared=declared)
        soup = BeautifulSoup(decoded.text.translate(_MARKERS), "lxml")
        title = soup.title.get_text(" ", strip=True) if soup.title else ""
        author_tag = soup.find("meta", attrs={"name": "author"})
        author = str(author_tag.get("content") or "").strip() if isinstance(author_tag, Tag) else ""
        sections = Sections(source)
        sections.add("", _page_text(soup))
        metadata = DocumentMetadata(
            format=self.name, title=title or None, author=author or None, encoding=decoded.encoding
        )
        return sections.document(metadata)


def _page_text(soup: BeautifulSoup) -> str:
    text = _collapse(_marked_text(soup)).replace(_BLOCK_BREAK, "\n\n").replace(_LINE_BREAK, "\n")
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _restore_pre(_BLANK_LINES.sub("\n\n", text))


def _marked_text(root: Tag) -> str:
    """``root``'s visible text, structure as markers, the source's whitespace not yet collapsed."""
    return "".join(_pieces(root))


def _pieces(root: Tag) -> Iterator[str]:
    # (element, leaving): a tag is pushed twice, to open it and, after its children, to close it.
    stack: list[tuple[PageElement, bool]] = [(child, False) for child in reversed(root.contents)]
    preformatted = 0
    numbers: list[int] = []  # the next item number of each open <ol>, innermost last
    while stack:
        element, leaving = stack.pop()
        if isinstance(element, NavigableString):
            if isinstance(element, PreformattedString) and not isinstance(element, CData):
                continue  # comments, doctypes, processing instructions
            yield element.translate(_PRESERVED) if preformatted else str(element)
            continue
        if not isinstance(element, Tag) or element.name in _INVISIBLE:
            continue
        name = element.name
        if leaving:
            preformatted -= name in _PREFORMATTED
            if name == "ol":
                numbers.pop()
            if name in _BLOCKS:
                yield _BLOCK_BREAK
            continue
        if name == "br":
            yield _LINE_BREAK
        elif name == "table":
            yield _BLOCK_BREAK + _table(element).replace("\n", _LINE_BREAK) + _BLOCK_BREAK
        else:
            yield from _opening(element, numbers)
            preformatted += name in _PREFORMATTED
            stack.append((element, True))
            stack.extend((child, False) for child in reversed(element.contents))


def _opening(tag: Tag, numbers: list[int]) -> Iterator[str]:
    name = tag.name
    if name in _BLOCKS:
        yield _BLOCK_BREAK
    if name in _LINES:
        yield _LINE_BREAK
    if name in _HEADINGS:
        yield _HEADINGS[name]
    if name == "ol":
        start = str(tag.get("start") or "1")
        numbers.append(int(start) if start.isdigit() else 1)
    elif name == "li":
        if tag.parent is not None and tag.parent.name == "ol" and numbers:
            yield f"{numbers[-1]}. "
            numbers[-1] += 1
        else:
            yield "- "


def _table(table: Tag) -> str:
    return markdown_table([[_cell_text(cell) for cell in _children(row, ("th", "td"))] for row in _rows(table)])


def _rows(table: Tag) -> Iterator[Tag]:
    """The table's own rows, not those of tables nested in its cells."""
    for child in _children(table, ("tr", "thead", "tbody", "tfoot")):
        if child.name == "tr":
            yield child
        else:
            yield from _children(child, ("tr",))


def _children(tag: Tag, names: tuple[str, ...]) -> Iterator[Tag]:
    return (child for child in tag.children if isinstance(child, Tag) and child.name in names)


def _cell_text(cell: Tag) -> str:
    """The cell's text, its paragraphs and line breaks as newlines (which the table shows as ``<br>``)."""
    text = _collapse(_marked_text(cell)).replace(_BLOCK_BREAK, "\n").replace(_LINE_BREAK, "\n")
    return _CELL_BREAKS.sub("\n", _restore_pre(text)).strip()


def _collapse(text: str) -> str:
    """Collapse the source's whitespace (its newlines included) as a browser does; markers stay."""
    return _SPACES.sub(" ", text)


def _restore_pre(text: str) -> str:
    return text.replace(_PRE_SPACE, " ").replace(_PRE_TAB, "\t")
