"""The ``webscraper`` built-in: a web page's readable text, fetched through the egress.

The environment's HTTP client is the egress, which refuses private and internal
addresses and caps size and time; a refusal is reported as the tool's failure, naming
it. The page is read by the environment's ``html_to_text`` (the document parser's HTML
extractor, so Plait has one way of reading HTML); only without one does this module fall
back to a small BeautifulSoup extraction. Dify's ``generate_summary`` needs a model and
is accepted but ignored: the text comes back whole, up to :data:`MAX_CHARS`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from bs4 import BeautifulSoup
from bs4.element import NavigableString

from plait.errors import PlaitError
from plait.tools.base import FunctionTool, HtmlToText, StaticToolProvider, ToolEnvironment, ToolOutput
from plait.tools.errors import ToolArgumentError, ToolCallFailed, ToolDefinitionError
from plait.tools.http import HttpClient, decoded_text, http_errors, is_json, media_type

MAX_CHARS = 100_000
_TEXT_TYPES = ("text/plain", "text/markdown", "text/csv")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_NOT_TEXT = ("script", "style", "noscript", "template", "svg", "iframe", "head")
_BLOCKS = (
    *("p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "blockquote", "pre", "br"),
    *("h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "tr", "table", "form", "figcaption", "hr"),
)


def provider(environment: ToolEnvironment) -> StaticToolProvider:
    tool = FunctionTool(
        "webscraper",
        "Fetch a web page and return its readable text. Input should be a URL.",
        {
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "The http(s) URL of the page."},
                "user_agent": {"type": "string", "description": "The User-Agent header to send."},
                "generate_summary": {
                    "type": "boolean",
                    "default": False,
                    "description": "Ignored: Plait returns the text.",
                },
            },
            "required": ["url"],
        },
        WebScraper(environment.http, environment.html_to_text).scrape,
        label="Web Scraper",
    )
    return StaticToolProvider("webscraper", [tool], label="Web Scraper", description="Read web pages.")


class WebScraper:
    def __init__(self, http: HttpClient | None, html_to_text: HtmlToText | None, *, max_chars: int = MAX_CHARS) -> None:
        self.http = http
        self.html_to_text = html_to_text or soup_text
        self.max_chars = max_chars

    async def scrape(self, arguments: dict[str, Any]) -> ToolOutput:
        if self.http is None:
            raise ToolDefinitionError("tool 'webscraper' has no HTTP client to fetch pages with")
        url = arguments["url"].strip()
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise ToolArgumentError(f"tool 'webscraper': {url[:200]!r} is not an http(s) URL", parameter="url")
        headers = {"User-Agent": arguments["user_agent"]} if arguments.get("user_agent") else {}
        with http_errors("webscraper"):
            response = await self.http.request("GET", url, headers=headers)
        if not 200 <= response.status_code < 300:
            raise ToolCallFailed(
                f"tool 'webscraper': the page answered HTTP {response.status_code}",
                remote_status=response.status_code,
                retryable=response.status_code >= 500,
            )
        media, _ = media_type(response.headers)
        if media in _HTML_TYPES or not media:
            try:
                text = self.html_to_text(response.content, response.headers.get("content-type", ""))
            except PlaitError as error:  # the document parser's "unreadable", "too large"...
                raise ToolCallFailed(f"tool 'webscraper': the page could not be read: {error.message}") from None
        elif media in _TEXT_TYPES or media.startswith("text/") or is_json(media):
            text = decoded_text(response)
        else:
            raise ToolCallFailed(f"tool 'webscraper': the URL is a {media} document, not a web page")
        if len(text) > self.max_chars:
            text = text[: self.max_chars] + f"\n\n[truncated at {self.max_chars} characters]"
        return ToolOutput(text=text)


def soup_text(content: bytes, content_type: str) -> str:
    """The title and visible text of an HTML page, one block element per line."""
    charset = media_type({"content-type": content_type})[1]
    soup = BeautifulSoup(content, "html.parser", from_encoding=charset)
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for element in soup(_NOT_TEXT):
        element.decompose()
    # Line breaks in the source are layout, not text; the blocks are where lines end.
    for string in soup.find_all(string=True):
        if type(string) is NavigableString:  # not a comment, doctype or CDATA
            string.replace_with(re.sub(r"\s+", " ", string))
    for element in soup(_BLOCKS):
        element.insert_before("\n")
        element.append("\n")
    lines = (line.strip() for line in soup.get_text("").splitlines())
    body = "\n".join(line for line in lines if line)
    return f"{title}\n\n{body}" if title else body
