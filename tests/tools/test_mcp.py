"""MCP tools against a real MCP server (the SDK's MCPServer over streamable HTTP, served by
uvicorn on loopback), reached through HTTP clients the real egress builds."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ContentBlock, EmbeddedResource, ImageContent, ResourceLink, TextContent, TextResourceContents

from plait.egress import Egress
from plait.tools import ToolArgumentError, ToolCallFailed, ToolDefinitionError, ToolFile, ToolTimeout
from plait.tools.mcp import MCPProvider
from tests.tools.servers import LOOPBACK, serving

PNG = b"\x89PNG\r\n\x1a\nnot really"
HEADERS_SEEN: list[dict[str, str]] = []


def mcp_server() -> MCPServer:
    server = MCPServer("plait-test")

    @server.tool(description="Greet someone.")
    def greet(name: str) -> str:
        return f"Hello, {name}!"

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    @server.tool(description="Always fails.")
    def refuse(reason: str) -> str:
        raise ToolError(f"refused: {reason}")

    @server.tool(description="A picture and a note.")
    def chart() -> list[ContentBlock]:
        return [
            TextContent(text="the chart"),
            ImageContent(data=base64.b64encode(PNG).decode(), mime_type="image/png"),
            EmbeddedResource(
                resource=TextResourceContents(uri="file:///notes/summary.md", text="# Sum", mime_type="text/markdown")
            ),
            ResourceLink(uri="https://files.example.com/big.csv", name="big.csv", mime_type="text/csv"),
        ]

    @server.tool(description="Answers JSON as text.")
    def as_text() -> list[ContentBlock]:
        return [TextContent(text='{"ok": true}')]

    @server.tool(description="Takes its time.")
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    return server


def recorded(app: Any) -> Any:
    """The MCP app, noting the headers of every HTTP request that reaches it."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            HEADERS_SEEN.append({key.decode(): value.decode() for key, value in scope["headers"]})
        await app(scope, receive, send)

    return asgi


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    with serving(recorded(mcp_server().streamable_http_app())) as base:
        yield f"{base}/mcp"


@pytest.fixture(scope="module")
async def shared_egress() -> AsyncIterator[Egress]:
    async with Egress(LOOPBACK) as egress:
        yield egress


@pytest.fixture(scope="module")
def tools(shared_egress: Egress, mcp_url: str) -> MCPProvider:
    """One provider for the tests of results: it lists once, then each call is one session."""
    return provider(shared_egress, mcp_url)


def provider(egress: Egress, url: str, **options: Any) -> MCPProvider:
    # The app's wiring: every session gets a new guarded SDK client, which the provider closes.
    return MCPProvider("test", url, client_factory=lambda: egress.sdk_client(timeout=5), **options)


async def test_list_tools(egress: Egress, mcp_url: str) -> None:
    tools = {tool.name: tool for tool in await provider(egress, mcp_url).list_tools()}
    assert set(tools) == {"greet", "add", "refuse", "chart", "as_text", "slow"}
    assert tools["add"].description == "Add two integers."
    assert tools["add"].parameters["required"] == ["a", "b"]
    assert tools["add"].parameters["properties"]["a"]["type"] == "integer"


async def test_a_text_result_and_the_headers_sent(egress: Egress, mcp_url: str) -> None:
    HEADERS_SEEN.clear()
    tools = provider(egress, mcp_url, headers={"Authorization": "Bearer mcp-token"})
    output = await (await tools.get_tool("greet")).invoke({"name": "Ada"})
    assert output.text == "Hello, Ada!"
    assert HEADERS_SEEN
    assert all(headers.get("authorization") == "Bearer mcp-token" for headers in HEADERS_SEEN)


async def test_a_structured_result_is_json(tools: MCPProvider) -> None:
    output = await (await tools.get_tool("add")).invoke({"a": "2", "b": 3})
    assert output.json == [{"sum": 5}]
    assert output.text == '{\n  "sum": 5\n}'


async def test_a_json_text_is_json_too(tools: MCPProvider) -> None:
    output = await (await tools.get_tool("as_text")).invoke({})
    assert (output.text, output.json) == ('{"ok": true}', [{"ok": True}])


async def test_images_and_resources_are_files(tools: MCPProvider) -> None:
    output = await (await tools.get_tool("chart")).invoke({})
    assert output.text == "the chart"
    assert output.files == [
        ToolFile(name="chart-1.png", mime_type="image/png", content=PNG),
        ToolFile(name="summary.md", mime_type="text/markdown", content=b"# Sum"),
        ToolFile(name="big.csv", mime_type="text/csv", url="https://files.example.com/big.csv"),
    ]


async def test_an_error_result_is_a_tool_failure_with_its_text(tools: MCPProvider) -> None:
    with pytest.raises(ToolCallFailed, match=r"the MCP tool 'refuse' failed: .*refused: no reason"):
        await (await tools.get_tool("refuse")).invoke({"reason": "no reason"})


async def test_arguments_are_checked_against_the_input_schema(tools: MCPProvider) -> None:
    with pytest.raises(ToolArgumentError, match="parameter 'b' is required"):
        await (await tools.get_tool("add")).invoke({"a": 1})


async def test_a_slow_tool_times_out(egress: Egress, mcp_url: str) -> None:
    tools = provider(egress, mcp_url, timeout=0.5)
    slow = await tools.get_tool("slow")
    with pytest.raises(ToolTimeout, match=r"did not answer within 0\.5 seconds"):
        await slow.invoke({"seconds": 3})


async def test_the_egress_refuses_a_loopback_server_by_default(strict_egress: Egress, mcp_url: str) -> None:
    with pytest.raises(ToolCallFailed, match=r"egress to 127\.0\.0\.1 is refused: loopback"):
        await provider(strict_egress, mcp_url).list_tools()


async def test_an_unreachable_server_is_a_failure_naming_its_origin(egress: Egress) -> None:
    with pytest.raises(
        ToolCallFailed, match=r"could not list the tools on the MCP server http://127\.0\.0\.1:9"
    ) as raised:
        await provider(egress, "http://127.0.0.1:9/mcp?token=secret").list_tools()
    assert "secret" not in raised.value.message


def test_nothing_connects_until_tools_are_listed_and_bad_config_is_refused() -> None:
    calls: list[int] = []
    MCPProvider("lazy", "https://mcp.example.com/mcp", client_factory=lambda: calls.append(1))
    assert calls == []
    with pytest.raises(ToolDefinitionError, match="must be an http\\(s\\) URL"):
        MCPProvider("bad", "stdio://run-me", client_factory=lambda: None)
    with pytest.raises(ToolDefinitionError, match="is malformed"):
        MCPProvider("bad", "https://mcp.example.com", client_factory=lambda: None, headers={"X": "a\r\nB: c"})
