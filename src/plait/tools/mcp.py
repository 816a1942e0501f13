"""MCP tools: the tools of one MCP server, reached over streamable HTTP with the official SDK.

    provider = MCPProvider("github", "https://mcp.example.com/mcp",
                           client_factory=lambda: egress.sdk_client(timeout=30),
                           headers={"Authorization": "Bearer ..."})
    tools = await provider.list_tools()          # connects, lists, disconnects
    output = await tools[0].invoke({"query": "plait"})

Streamable HTTP only. There is no stdio transport here, on purpose: a stdio server is a
command to run, and a multi-user server must never start processes from configuration
a tenant wrote. Every connection is made by an HTTP client from ``client_factory``: the
app passes ``Egress.sdk_client``, so MCP traffic gets the egress's address guard and size
cap (this module may not build an HTTP client itself). The SDK is typed for ``httpx2``
clients; it uses only the request/stream surface that the egress's ``httpx`` client
shares, hence ``Any``.

Nothing connects when a provider is built (a DSL that names an MCP tool imports offline);
listing or calling opens a session, does the one thing and closes it, within ``timeout``
seconds overall. Results map onto :class:`~plait.tools.base.ToolOutput`: text content is
the text, structured content (or a text that is a JSON object) the ``json``, images,
audio and resources the files; a result flagged ``isError`` raises ToolCallFailed with
the server's text.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import mimetypes
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import mcp_types
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from plait.errors import PlaitError
from plait.tools.base import Tool, ToolFile, ToolOutput, ToolProvider
from plait.tools.errors import ToolCallFailed, ToolDefinitionError, ToolError, ToolTimeout

ClientFactory = Callable[[], Any]
"""Returns a new, unopened HTTP client for the SDK (``Egress.sdk_client``); the provider closes it."""

DEFAULT_TIMEOUT = 30.0
_T = TypeVar("_T")


class MCPProvider(ToolProvider):
    """The tools of the MCP server at ``url``. ``headers`` go with every request (an
    ``Authorization`` header, say); the tool listing is kept after the first call."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        client_factory: ClientFactory,
        headers: Mapping[str, str] | None = None,
        label: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # The URL is not echoed: its query may hold a token.
            shown = f"the scheme {parts.scheme!r}" if parts.scheme else "no scheme"
            raise ToolDefinitionError(f"the MCP server URL must be an http(s) URL (it has {shown})", path="server_url")
        for key, value in (headers or {}).items():
            if any(char in f"{key}{value}" for char in "\r\n") or not key:
                raise ToolDefinitionError(f"the header {key!r} is malformed", path=f"headers.{key}")
        if not timeout > 0:
            raise ToolDefinitionError("the MCP timeout must be a positive number of seconds", path="timeout")
        self.name = name
        self.label = label or name
        self.url = url
        self.timeout = timeout
        self.warnings: list[str] = []
        self._client_factory = client_factory
        self._headers = dict(headers or {})
        # Named by origin only: a path or query may carry a token.
        self._origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        self._tools: tuple[MCPTool, ...] | None = None

    async def list_tools(self) -> Sequence[Tool]:
        if self._tools is None:
            listed = await self._session("list the tools", _all_tools)
            tools = []
            for entry in listed:
                try:
                    tools.append(MCPTool(self, entry))
                except ToolDefinitionError as error:
                    self.warnings.append(f"the MCP tool {entry.name!r} was skipped: {error.message}")
            self._tools = tuple(tools)
        return self._tools

    async def refresh(self) -> Sequence[Tool]:
        """List the tools again (a server may change them)."""
        self._tools = None
        return await self.list_tools()

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> ToolOutput:
        async def call_tool(client: Client) -> mcp_types.CallToolResult:
            return await client.call_tool(tool, dict(arguments), read_timeout_seconds=self.timeout)

        result = await self._session(f"call the tool {tool!r}", call_tool)
        return tool_output(tool, result)

    async def _session(self, what: str, work: Callable[[Client], Awaitable[_T]]) -> _T:
        http = self._client_factory()
        http.headers.update(self._headers)
        try:
            async with asyncio.timeout(self.timeout):
                async with http:
                    transport = streamable_http_client(self.url, http_client=http)
                    async with Client(transport, read_timeout_seconds=self.timeout) as client:
                        return await work(client)
        except Exception as error:
            raise self._translated(what, error) from None

    def _translated(self, what: str, error: BaseException) -> ToolError:
        """The first real error inside the SDK's task groups, as a tool error naming the server."""
        cause = _innermost(error)
        where = f"the MCP server {self._origin}"
        if isinstance(cause, ToolError):
            return cause
        if isinstance(cause, TimeoutError) or type(cause).__name__.endswith("Timeout"):
            return ToolTimeout(f"{where} did not answer within {self.timeout:g} seconds ({what})")
        if isinstance(cause, MCPError):
            if cause.code == mcp_types.REQUEST_TIMEOUT:
                return ToolTimeout(f"{where} did not answer within {self.timeout:g} seconds ({what})")
            return ToolCallFailed(f"{where} refused to {what}: {cause.message}")
        if isinstance(cause, PlaitError):  # the egress's refusals and failures
            retryable = cause.code == "egress_failed"
            return ToolCallFailed(f"could not {what} on {where}: {cause.message}", retryable=retryable)
        detail = str(cause) or type(cause).__name__
        return ToolCallFailed(f"could not {what} on {where}: {detail}", retryable=True)


class MCPTool(Tool):
    def __init__(self, provider: MCPProvider, listed: mcp_types.Tool) -> None:
        schema = dict(listed.input_schema)
        schema.setdefault("type", "object")
        super().__init__(listed.name, listed.description or "", schema, label=listed.title or listed.name)
        self.provider = provider

    async def run(self, arguments: dict[str, Any]) -> ToolOutput:
        return await self.provider.call(self.name, arguments)


async def _all_tools(client: Client) -> list[mcp_types.Tool]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    for _ in range(100):  # a server whose pages never end cannot hold the call for ever
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def tool_output(tool: str, result: mcp_types.CallToolResult) -> ToolOutput:
    texts: list[str] = []
    files: list[ToolFile] = []
    for index, block in enumerate(result.content):
        if isinstance(block, mcp_types.TextContent):
            texts.append(block.text)
        elif isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
            name = f"{tool}-{index}{mimetypes.guess_extension(block.mime_type) or ''}"
            files.append(ToolFile(name=name, mime_type=block.mime_type, content=_decoded(tool, block.data)))
        elif isinstance(block, mcp_types.EmbeddedResource):
            files.append(_resource_file(tool, block.resource))
        elif isinstance(block, mcp_types.ResourceLink):
            uri = str(block.uri)
            if urlsplit(uri).scheme in ("http", "https"):
                files.append(
                    ToolFile(name=block.name, mime_type=block.mime_type or "application/octet-stream", url=uri)
                )
            else:
                texts.append(f"[resource {block.name}: {uri}]")
    text = "\n".join(texts)
    if result.is_error:
        raise ToolCallFailed(f"the MCP tool {tool!r} failed: {text or 'the server gave no reason'}")
    return ToolOutput(text=text, json=_structured(result.structured_content, texts), files=files)


def _structured(content: Any, texts: list[str]) -> list[dict[str, Any]]:
    if isinstance(content, dict):
        return [content]
    if isinstance(content, list) and all(isinstance(item, dict) for item in content):
        return list(content)
    if content is not None:
        return [{"result": content}]
    found: list[dict[str, Any]] = []
    for text in texts:
        if text.lstrip().startswith("{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                found.append(parsed)
    return found


def _resource_file(tool: str, resource: mcp_types.TextResourceContents | mcp_types.BlobResourceContents) -> ToolFile:
    uri = str(resource.uri)
    name = urlsplit(uri).path.rsplit("/", 1)[-1] or tool
    if isinstance(resource, mcp_types.TextResourceContents):
        return ToolFile(name=name, mime_type=resource.mime_type or "text/plain", content=resource.text.encode())
    return ToolFile(
        name=name, mime_type=resource.mime_type or "application/octet-stream", content=_decoded(tool, resource.blob)
    )


def _decoded(tool: str, data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ToolCallFailed(f"the MCP tool {tool!r} returned a file that is not valid base64") from None


def _innermost(error: BaseException) -> BaseException:
    """The first exception in (nested) exception groups that is not a cancellation."""
    while isinstance(error, BaseExceptionGroup):
        inner = [e for e in error.exceptions if not isinstance(e, asyncio.CancelledError)]
        if not inner:
            break
        error = inner[0]
    return error
