"""Agent nodes: function calling and ReAct solving a two-step tool task with a scripted
model, the rounds reported as agent logs, the iteration limit, and strategies Plait does
not provide."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from plait.engine.agent import parse_react
from plait.engine.services import FixedModels, Services
from plait.errors import InvalidInput
from plait.events import AgentLog, NodeFinished, TextChunk
from plait.providers.base import ModelCapabilities, ToolDefinition
from plait.providers.fake import ScriptedChatModel

from .graphs import end, finished, graph, run, start

TOOL_MODEL = ModelCapabilities(tool_calling=True)


class Tools:
    """Two tools whose results the task needs: an exchange rate and a multiplication."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def definition(self, provider: Mapping[str, Any]) -> ToolDefinition:
        name = provider["tool_name"]
        if name == "rate":
            return ToolDefinition(
                "rate",
                "The exchange rate between two currencies.",
                {
                    "type": "object",
                    "properties": {"base": {"type": "string"}, "quote": {"type": "string"}},
                    "required": ["base", "quote"],
                },
            )
        if name == "multiply":
            return ToolDefinition(
                "multiply",
                "Multiply two numbers.",
                {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
            )
        raise InvalidInput(f"no tool {name}")

    async def invoke(self, node_id: str, provider: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
        name = provider["tool_name"]
        self.calls.append((name, dict(parameters)))
        if name == "rate":
            return {"text": "", "json": [{"rate": 1.1}] if parameters["base"] == "EUR" else [{"rate": 0}]}
        return {"text": str(float(parameters["a"]) * float(parameters["b"]))}


def agent_node(strategy: str = "function_calling", **parameters: Any) -> dict[str, Any]:
    tools = [
        {"enabled": True, "provider_name": "finance", "tool_name": "rate", "type": "builtin", "parameters": {}},
        {"enabled": True, "provider_name": "maths", "tool_name": "multiply", "type": "builtin", "parameters": {}},
    ]
    values = {
        "model": {"type": "constant", "value": {"provider": "fake", "model": "fake", "model_type": "llm"}},
        "tools": {"type": "constant", "value": tools},
        "instruction": {"type": "constant", "value": "You convert money."},
        "query": {"type": "mixed", "value": "{{#start.question#}}"},
        "maximum_iterations": {"type": "constant", "value": 5},
        **parameters,
    }
    return {
        "id": "agent",
        "type": "agent",
        "agent_strategy_provider_name": "langgenius/agent/agent",
        "agent_strategy_name": strategy,
        "agent_parameters": values,
    }


def workflow(node: dict[str, Any]) -> dict[str, Any]:
    return graph([start("question"), node, end(answer=["agent", "text"])], [("start", "agent"), ("agent", "end")])


QUESTION = {"question": "How many USD are 20 EUR?"}


async def test_function_calling_solves_a_two_step_tool_task() -> None:
    model = ScriptedChatModel(
        {
            "agent": [
                {"tool_calls": [{"name": "rate", "arguments": {"base": "EUR", "quote": "USD"}}]},
                {"text": "The rate is 1.1.", "tool_calls": [{"name": "multiply", "arguments": {"a": 20, "b": 1.1}}]},
                "20 EUR are 22.0 USD.",
            ]
        },
        capabilities=TOOL_MODEL,
    )
    tools = Tools()
    events = await run(workflow(agent_node()), QUESTION, Services(models=FixedModels(model), tools=tools))
    assert finished(events).status == "succeeded", finished(events).error
    assert finished(events).outputs["answer"] == "20 EUR are 22.0 USD."
    assert tools.calls == [("rate", {"base": "EUR", "quote": "USD"}), ("multiply", {"a": 20, "b": 1.1})]
    # Each round saw what the tools returned.
    second = model.requests[1].messages
    assert second[-1].role == "tool"
    assert second[-1].text == '[{"rate": 1.1}]'
    assert second[-2].role == "assistant"
    assert second[-2].tool_calls[0].name == "rate"
    third = model.requests[2].messages
    assert third[-1].text == "22.0"
    assert third[-1].tool_call_id == "call_0"
    assert [tool.name for tool in model.requests[0].tools] == ["rate", "multiply"]
    logs = [event for event in events if isinstance(event, AgentLog)]
    assert [(log.position, log.status, log.tool) for log in logs] == [
        (1, "start", "rate"),
        (1, "success", "rate"),
        (2, "start", "multiply"),
        (2, "success", "multiply"),
        (3, "success", ""),
    ]
    assert logs[1].observation == '{"rate": "[{\\"rate\\": 1.1}]"}'
    node = next(event for event in events if isinstance(event, NodeFinished) and event.node_id == "agent")
    assert node.outputs is not None
    assert len(node.outputs["json"]) == 3
    assert node.metadata["total_tokens"] == 45  # three scripted calls of 15 tokens


async def test_react_drives_a_model_without_tool_calling() -> None:
    model = ScriptedChatModel(
        {
            "agent": [
                'Thought: I need the rate.\nAction:\n```\n{"action": "rate", "action_input": '
                '{"base": "EUR", "quote": "USD"}}\n```',
                'Thought: now multiply.\nAction: multiply\nAction Input: {"a": 20, "b": 1.1}',
                "Thought: I know the answer.\nFinal Answer: 22 USD",
            ]
        }
    )
    tools = Tools()
    events = await run(
        workflow(agent_node("function_calling")), QUESTION, Services(models=FixedModels(model), tools=tools)
    )
    assert finished(events).status == "succeeded", finished(events).error
    assert finished(events).outputs["answer"] == "22 USD"
    assert [name for name, _ in tools.calls] == ["rate", "multiply"]
    first = model.requests[0]
    assert first.tools == ()
    assert "Observation:" in first.parameters["stop"]
    assert "rate: The exchange rate" in first.messages[0].text
    last = model.requests[2].messages[-1]
    assert last.role == "assistant"
    assert "Observation: 22.0" in last.text
    streamed = "".join(event.text for event in events if isinstance(event, TextChunk) and event.node_id == "agent")
    assert streamed == "22 USD"


async def test_the_last_round_offers_no_tools() -> None:
    looping = {"tool_calls": [{"name": "multiply", "arguments": {"a": 1, "b": 2}}]}
    model = ScriptedChatModel({"agent": [looping, looping, "I give up: 2"]}, capabilities=TOOL_MODEL)
    maximum = {"maximum_iterations": {"type": "constant", "value": 2}}
    events = await run(workflow(agent_node(**maximum)), QUESTION, Services(models=FixedModels(model), tools=Tools()))
    assert finished(events).outputs["answer"] == "I give up: 2"
    assert [len(request.tools) for request in model.requests] == [2, 2, 0]


async def test_a_failing_tool_is_an_observation_not_a_failure() -> None:
    model = ScriptedChatModel(
        {"agent": [{"tool_calls": [{"name": "nonexistent", "arguments": {}}]}, "done"]}, capabilities=TOOL_MODEL
    )
    events = await run(workflow(agent_node()), QUESTION, Services(models=FixedModels(model), tools=Tools()))
    assert finished(events).outputs["answer"] == "done"
    assert "there is no tool named 'nonexistent'" in model.requests[1].messages[-1].text


async def test_a_strategy_plait_does_not_provide_fails_naming_it() -> None:
    node = agent_node()
    node["agent_strategy_provider_name"] = "someone/fancy/agent"
    events = await run(workflow(node), QUESTION, Services(tools=Tools()))
    assert finished(events).status == "failed"
    assert "someone/fancy/agent/function_calling" in (finished(events).error or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thought: easy\nFinal Answer: 4", ("easy", None, "4")),
        (
            'Thought: look\nAction:\n```json\n{"action": "rate", "action_input": "{\\"base\\": \\"EUR\\"}"}\n```',
            ("look", ("rate", {"base": "EUR"}), None),
        ),
        ("Action: search\nAction Input: plain words", ("", ("search", {"input": "plain words"}), None)),
        ('```\n{"action": "Final Answer", "action_input": "yes"}\n```', ("", None, "yes")),
        ("Just an answer with no format", ("Just an answer with no format", None, None)),
    ],
)
def test_react_replies_are_parsed(text: str, expected: tuple[Any, ...]) -> None:
    assert parse_react(text) == expected
