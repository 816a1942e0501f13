"""What a tool is: a name, a description, a JSON Schema for its arguments, and ``invoke``.

Tool nodes, agent nodes and agent-chat apps see every kind of tool (built-in, OpenAPI,
MCP) through :class:`Tool`, and groups of them through :class:`ToolProvider`::

    tool = await provider.get_tool("current_time")
    output = await tool.invoke({"timezone": "Europe/Paris"})
    output.text, output.json, output.files, output.variables

``invoke`` checks the arguments against ``parameters`` (see :mod:`plait.tools.arguments`)
before the tool runs, so every tool gets the same coercion and the same clear errors.
:class:`FunctionTool` makes a tool of a Python function: the built-ins are written with
it, and it is the fake that tests use where a real tool does not matter.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from plait.tools.arguments import ArgumentSchema
from plait.tools.errors import ToolNotFound
from plait.tools.http import HttpClient

HtmlToText = Callable[[bytes, str], str]
"""An HTML page's readable text: ``(body, content_type_header) -> text``."""


@dataclass(frozen=True, slots=True)
class ToolFile:
    """A file a tool produced: its bytes, or a URL where it can be fetched (one of the two)."""

    name: str
    mime_type: str
    content: bytes | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.content is None) == (self.url is None):
            raise ValueError("a tool file has either content or a url")

    def __repr__(self) -> str:
        held = f"{len(self.content)} bytes" if self.content is not None else self.url
        return f"ToolFile({self.name!r}, {self.mime_type!r}, {held})"


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What a tool returns, in the shape of Dify's tool node outputs.

    ``text`` is what a model reads back; ``json`` the structured results (a list of
    objects); ``files`` any files; ``variables`` named outputs a workflow can select
    (``[tool_node, name]``), as Dify's tool variables.
    """

    text: str = ""
    json: list[dict[str, Any]] = field(default_factory=list)
    files: list[ToolFile] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)


class Tool(ABC):
    """One callable tool. Subclasses implement :meth:`run`, which receives checked arguments."""

    def __init__(
        self,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        *,
        label: str | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.label = label or name
        self.description = description
        self.arguments = ArgumentSchema(name, parameters, aliases=aliases)

    @property
    def parameters(self) -> Mapping[str, Any]:
        """The JSON Schema (an object) a model is shown for function calling."""
        return self.arguments.schema

    async def invoke(self, arguments: Mapping[str, Any]) -> ToolOutput:
        """Check ``arguments`` (raises :class:`~plait.tools.errors.ToolArgumentError`), then run."""
        return await self.run(self.arguments.check(arguments))

    @abstractmethod
    async def run(self, arguments: dict[str, Any]) -> ToolOutput: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


ToolFunction = Callable[[dict[str, Any]], ToolOutput | Awaitable[ToolOutput]]


class FunctionTool(Tool):
    """A tool whose :meth:`run` is a function of the checked arguments (sync or async).

    Sync functions run on the event loop, so they must be quick: the built-ins are.
    """

    def __init__(
        self,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        function: ToolFunction,
        *,
        label: str | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(name, description, parameters, label=label, aliases=aliases)
        self.function = function

    async def run(self, arguments: dict[str, Any]) -> ToolOutput:
        result = self.function(arguments)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, ToolOutput):
            raise TypeError(f"tool {self.name!r} returned {type(result).__name__}, not a ToolOutput")
        return result


class ToolProvider(ABC):
    """A named group of tools (Dify's tool provider): built-ins, one OpenAPI schema, one MCP server.

    ``credentials_schema`` is a JSON Schema of the credentials the provider needs, or
    None. Listing may be remote (MCP connects to list), hence async.
    """

    name: str
    label: str
    description: str = ""
    credentials_schema: Mapping[str, Any] | None = None

    @abstractmethod
    async def list_tools(self) -> Sequence[Tool]: ...

    async def get_tool(self, name: str) -> Tool:
        for tool in await self.list_tools():
            if tool.name == name:
                return tool
        raise ToolNotFound(f"tool provider {self.name!r} has no tool {name!r}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class StaticToolProvider(ToolProvider):
    """A provider whose tools are known when it is built (built-ins, an OpenAPI document)."""

    def __init__(
        self,
        name: str,
        tools: Sequence[Tool],
        *,
        label: str | None = None,
        description: str = "",
        credentials_schema: Mapping[str, Any] | None = None,
    ) -> None:
        names = [tool.name for tool in tools]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"tool provider {name!r} has more than one tool named {', '.join(duplicates)}")
        self.name = name
        self.label = label or name
        self.description = description
        self.credentials_schema = credentials_schema
        self.tools: tuple[Tool, ...] = tuple(tools)
        self._by_name = {tool.name: tool for tool in self.tools}

    async def list_tools(self) -> Sequence[Tool]:
        return self.tools

    async def get_tool(self, name: str) -> Tool:
        return self.tool(name)

    def tool(self, name: str) -> Tool:
        try:
            return self._by_name[name]
        except KeyError:
            raise ToolNotFound(f"tool provider {self.name!r} has no tool {name!r}") from None


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolEnvironment:
    """What built-in and plugin tool providers may use, passed to each ``plait.tools`` entry point.

    ``http`` is the egress client (tools that fetch refuse to run without one); ``clock``
    returns the current time, timezone-aware; ``html_to_text`` is the document parser's
    HTML extractor, so Plait has one way of reading a page.
    """

    http: HttpClient | None = None
    clock: Callable[[], datetime] = utc_now
    html_to_text: HtmlToText | None = None


ProviderFactory = Callable[[ToolEnvironment], ToolProvider]
"""What a ``plait.tools`` entry point names: a function from the environment to a provider."""
