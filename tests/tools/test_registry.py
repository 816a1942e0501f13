"""The built-ins are found through the ``plait.tools`` entry points, by Dify's provider ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plait.tools import (
    FunctionTool,
    StaticToolProvider,
    ToolEnvironment,
    ToolNotFound,
    ToolOutput,
    ToolRegistry,
    canonical_provider_id,
)

FIXED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry.from_entry_points(ToolEnvironment(clock=lambda: FIXED))


def test_the_built_ins_are_registered_as_entry_points(registry: ToolRegistry) -> None:
    assert {provider.name for provider in registry.providers} >= {"time", "json_process", "maths", "webscraper"}


@pytest.mark.parametrize("provider_id", ["time", "langgenius/time/time", " time "])
async def test_dify_provider_ids_find_the_built_in(registry: ToolRegistry, provider_id: str) -> None:
    tool = await registry.tool(provider_id, "current_time")
    assert (await tool.invoke({"format": "%Y-%m-%d"})).text == "2024-03-01"


async def test_a_generic_builtin_provider_finds_the_tool_by_name(registry: ToolRegistry) -> None:
    # Dify's http_request_with_json_tool_workflow.yml names provider_id 'builtin'.
    tool = await registry.tool("builtin", "json_parse")
    assert tool.name == "json_parse"


def test_only_dify_s_own_plugins_are_aliased() -> None:
    assert canonical_provider_id("langgenius/json_process/json_process") == "json_process"
    assert canonical_provider_id("someone/time/time") == "someone/time/time"
    assert canonical_provider_id("time") == "time"


async def test_unknown_providers_and_tools_are_not_found(registry: ToolRegistry) -> None:
    with pytest.raises(ToolNotFound, match="no tool provider 'langgenius/perplexity/perplexity'"):
        await registry.tool("langgenius/perplexity/perplexity", "search")
    with pytest.raises(ToolNotFound, match="tool provider 'time' has no tool 'sundial'"):
        await registry.tool("time", "sundial")
    with pytest.raises(ToolNotFound, match="no built-in tool 'sundial'"):
        await registry.tool("builtin", "sundial")


async def test_a_registry_from_an_explicit_list() -> None:
    echo = FunctionTool("echo", "Echo.", {"type": "object"}, lambda arguments: ToolOutput(text="hi"))
    registry = ToolRegistry([StaticToolProvider("mine", [echo])])
    assert (await (await registry.tool("mine", "echo")).invoke({})).text == "hi"
    with pytest.raises(ValueError, match="two tool providers"):
        ToolRegistry([StaticToolProvider("mine", []), StaticToolProvider("mine", [])])


async def test_the_same_tool_name_in_two_providers_needs_the_provider() -> None:
    def make() -> FunctionTool:
        return FunctionTool("echo", "Echo.", {"type": "object"}, lambda arguments: ToolOutput())

    registry = ToolRegistry([StaticToolProvider("a", [make()]), StaticToolProvider("b", [make()])])
    with pytest.raises(ToolNotFound, match="more than one tool provider"):
        await registry.tool("builtin", "echo")
