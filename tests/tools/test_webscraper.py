"""The webscraper through the real egress, against pages served on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from plait.egress import Egress
from plait.errors import PlaitError
from plait.tools import ToolArgumentError, ToolCallFailed, ToolDefinitionError, ToolEnvironment
from plait.tools.builtin import webscraper
from tests.tools.servers import serving

PAGE = """<!doctype html><html><head><title>Plait notes</title><style>p {color: red}</style>
<script>var secret = 1;</script></head>
<body><!-- a comment --><nav>Home</nav><h1>Release notes</h1><p>Tools   are
here.</p><p>Caf\u00e9 menu</p><noscript>enable js</noscript></body></html>"""


async def page(request: Request) -> Response:
    return HTMLResponse(PAGE)


async def agent(request: Request) -> Response:
    return HTMLResponse(f"<p>{request.headers.get('user-agent')}</p>")


def app() -> Starlette:
    return Starlette(
        routes=[
            Route("/page", page),
            Route("/agent", agent),
            Route("/plain", lambda request: PlainTextResponse("just text")),
            Route("/big", lambda request: PlainTextResponse("x" * 500)),
            Route("/pdf", lambda request: Response(b"%PDF-1.7", media_type="application/pdf")),
            Route("/gone", lambda request: PlainTextResponse("gone", status_code=410)),
        ]
    )


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serving(app()) as url:
        yield url


async def scrape(egress: Egress, url: str, **arguments: str) -> str:
    tool = webscraper.provider(ToolEnvironment(http=egress)).tool("webscraper")
    return (await tool.invoke({"url": url, **arguments})).text


async def test_a_page_s_readable_text(egress: Egress, site: str) -> None:
    assert await scrape(egress, f"{site}/page") == "Plait notes\n\nHome\nRelease notes\nTools are here.\nCafé menu"


async def test_the_user_agent_is_sent(egress: Egress, site: str) -> None:
    assert await scrape(egress, f"{site}/agent", user_agent="PlaitBot/1.0") == "PlaitBot/1.0"


async def test_plain_text_comes_back_as_it_is_and_long_text_is_capped(egress: Egress, site: str) -> None:
    assert await scrape(egress, f"{site}/plain") == "just text"
    scraper = webscraper.WebScraper(egress, None, max_chars=100)
    text = (await scraper.scrape({"url": f"{site}/big"})).text
    assert text == "x" * 100 + "\n\n[truncated at 100 characters]"


async def test_the_injected_html_extractor_is_used(egress: Egress, site: str) -> None:
    seen: list[tuple[int, str]] = []

    def extractor(content: bytes, content_type: str) -> str:
        seen.append((len(content), content_type))
        return "from the document parser"

    tool = webscraper.provider(ToolEnvironment(http=egress, html_to_text=extractor)).tool("webscraper")
    assert (await tool.invoke({"url": f"{site}/page"})).text == "from the document parser"
    assert seen == [(len(PAGE.encode()), "text/html; charset=utf-8")]


async def test_an_unreadable_page_is_a_tool_failure(egress: Egress, site: str) -> None:
    def extractor(content: bytes, content_type: str) -> str:
        raise PlaitError("the page is larger than the parser reads")

    tool = webscraper.provider(ToolEnvironment(http=egress, html_to_text=extractor)).tool("webscraper")
    with pytest.raises(ToolCallFailed, match="could not be read: the page is larger than the parser reads"):
        await tool.invoke({"url": f"{site}/page"})


async def test_failures_are_tool_errors(egress: Egress, site: str) -> None:
    with pytest.raises(ToolCallFailed, match="the page answered HTTP 410") as raised:
        await scrape(egress, f"{site}/gone")
    assert raised.value.remote_status == 410
    with pytest.raises(ToolCallFailed, match="is a application/pdf document, not a web page"):
        await scrape(egress, f"{site}/pdf")
    with pytest.raises(ToolArgumentError, match="is not an http\\(s\\) URL"):
        await scrape(egress, "file:///etc/passwd")


async def test_a_private_address_is_refused_by_the_egress(strict_egress: Egress, site: str) -> None:
    with pytest.raises(ToolCallFailed, match=r"egress to 127\.0\.0\.1 is refused: loopback"):
        await scrape(strict_egress, f"{site}/page")


async def test_without_an_http_client_the_tool_says_so() -> None:
    tool = webscraper.provider(ToolEnvironment()).tool("webscraper")
    with pytest.raises(ToolDefinitionError, match="no HTTP client"):
        await tool.invoke({"url": "https://example.com/"})
