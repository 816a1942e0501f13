"""The LLM-family nodes beyond plain text: prices in the usage, structured output with and
without native support, reasoning kept apart or tagged, conversation memory, image inputs,
and the parameter extractor's function-call mode."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from plait.engine.services import FixedModels, Services
from plait.events import NodeFinished, TextChunk
from plait.providers.base import ImagePart, ModelCapabilities, TextPart
from plait.providers.catalog import ModelPricing
from plait.providers.fake import ScriptedChatModel
from plait.providers.pricing import PricedChatModel

from .graphs import end, finished, graph, llm, run, start

FILE = {
    "dify_model_identity": "__dify__file__",
    "type": "image",
    "transfer_method": "local_file",
    "related_id": "f1",
    "filename": "cat.png",
    "mime_type": "image/png",
}


def node_outputs(events: list[Any], node_id: str) -> dict[str, Any]:
    for event in events:
        if isinstance(event, NodeFinished) and event.node_id == node_id:
            assert event.status == "succeeded", event.error
            assert event.outputs is not None
            return event.outputs
    raise AssertionError(f"{node_id} did not finish")


def services(model: Any, **extra: Any) -> Services:
    return Services(models=FixedModels(model), **extra)


async def test_usage_carries_prices_as_decimal_strings() -> None:
    scripted = ScriptedChatModel({"llm": "four words of reply"})
    priced = PricedChatModel(scripted, ModelPricing(input=Decimal("2.5"), output=Decimal("10")), "openai")
    events = await run(
        graph([start(), llm(), end(text=["llm", "text"])], [("start", "llm"), ("llm", "end")]),
        services=services(priced),
    )
    usage = node_outputs(events, "llm")["usage"]
    # SCRIPTED_USAGE: 10 prompt tokens, 5 completion tokens; prices per million tokens.
    assert usage["prompt_price"] == "0.0000250"
    assert usage["completion_price"] == "0.0000500"
    assert usage["total_price"] == "0.0000750"
    assert usage["prompt_unit_price"] == "2.5"
    assert usage["prompt_price_unit"] == "0.000001"
    assert usage["currency"] == "USD"
    llm_finished = next(e for e in events if isinstance(e, NodeFinished) and e.node_id == "llm")
    assert llm_finished.metadata["total_price"] == "0.0000750"


async def test_structured_output_through_the_prompt_when_the_model_lacks_it() -> None:
    model = ScriptedChatModel({"llm": 'Here you go: {"city": "Paris", "days": 3}'})
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
    events = await run(
        graph(
            [start(), llm(structured_output_enabled=True, structured_output={"schema": schema}), end()],
            [("start", "llm"), ("llm", "end")],
        ),
        services=services(model),
    )
    assert node_outputs(events, "llm")["structured_output"] == {"city": "Paris", "days": 3}
    system = model.requests[0].messages[0]
    assert system.role == "system"
    assert '"city"' in system.text
    assert model.requests[0].response_format is None


async def test_structured_output_natively_when_the_model_supports_it() -> None:
    model = ScriptedChatModel(
        {"llm": '{"ok": true}'}, capabilities=ModelCapabilities(structured_output=True, tool_calling=True)
    )
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    events = await run(
        graph(
            [start(), llm(structured_output_switch_on=True, structured_output={"schema": schema}), end()],
            [("start", "llm"), ("llm", "end")],
        ),
        services=services(model),
    )
    assert node_outputs(events, "llm")["structured_output"] == {"ok": True}
    request = model.requests[0]
    assert request.response_format is not None
    assert request.response_format.schema == schema
    assert all("JSON Schema" not in message.text for message in request.messages)


async def test_structured_output_that_is_not_json_fails_the_node() -> None:
    model = ScriptedChatModel({"llm": "sorry, no JSON today"})
    events = await run(
        graph([start(), llm(structured_output_enabled=True), end()], [("start", "llm"), ("llm", "end")]),
        services=services(model),
    )
    assert finished(events).status == "failed"
    assert "structured output" in (finished(events).error or "")


async def test_separated_reasoning_leaves_the_text_and_the_stream() -> None:
    model = ScriptedChatModel({"llm": {"chunks": ["<thi", "nk>let me ", "see</think>\n\nThe", " answer", ""]}})
    events = await run(
        graph(
            [start(), llm(reasoning_format="separated"), end(text=["llm", "text"])],
            [("start", "llm"), ("llm", "end")],
        ),
        services=services(model),
    )
    outputs = node_outputs(events, "llm")
    assert outputs["text"] == "The answer"
    assert outputs["reasoning_content"] == "let me see"
    streamed = "".join(event.text for event in events if isinstance(event, TextChunk))
    assert streamed == "The answer"


async def test_reasoning_sent_apart_is_tagged_into_the_text_by_default() -> None:
    model = ScriptedChatModel({"llm": {"reasoning": "two plus two", "text": "4"}})
    events = await run(
        graph([start(), llm(), end(text=["llm", "text"])], [("start", "llm"), ("llm", "end")]),
        services=services(model),
    )
    outputs = node_outputs(events, "llm")
    assert outputs["text"] == "<think>\ntwo plus two\n</think>\n\n4"
    assert outputs["reasoning_content"] == ""


async def test_reasoning_sent_apart_is_kept_apart_when_separated() -> None:
    model = ScriptedChatModel({"llm": {"reasoning": "two plus two", "text": "4"}})
    events = await run(
        graph(
            [start(), llm(reasoning_format="separated"), end(text=["llm", "text"])],
            [("start", "llm"), ("llm", "end")],
        ),
        services=services(model),
    )
    outputs = node_outputs(events, "llm")
    assert (outputs["text"], outputs["reasoning_content"]) == ("4", "two plus two")


class Memory:
    def __init__(self, turns: list[tuple[str, str]]) -> None:
        self._turns = turns
        self.asked: list[int] = []

    async def turns(self, limit: int) -> list[tuple[str, str]]:
        self.asked.append(limit)
        return self._turns[-limit:]


async def test_memory_puts_the_conversation_between_the_system_prompt_and_the_query() -> None:
    model = ScriptedChatModel({"llm": "ok"})
    memory = Memory([("hi", "hello"), ("my name is Ada", "nice to meet you, Ada")])
    node = llm(
        prompt_template=[{"role": "system", "text": "Be brief."}],
        memory={"window": {"enabled": True, "size": 1}},
    )
    events = await run(
        graph([start(), node, end()], [("start", "llm"), ("llm", "end")]),
        services=replace(services(model), memory=memory),
    )
    assert finished(events).status == "succeeded"
    assert memory.asked == [1]
    messages = [(m.role, m.text) for m in model.requests[0].messages]
    # No sys.query in this run (a workflow), so only the history follows the system prompt.
    assert messages == [("system", "Be brief."), ("user", "my name is Ada"), ("assistant", "nice to meet you, Ada")]


class Files:
    async def read(self, file: Mapping[str, Any]) -> bytes:
        assert file["related_id"] == "f1"
        return b"\x89PNG fake image bytes"


async def test_vision_attaches_images_for_a_model_that_sees() -> None:
    model = ScriptedChatModel({"llm": "a cat"}, capabilities=ModelCapabilities(vision=True))
    node = llm(
        prompt_template=[{"role": "user", "text": "What is this?"}],
        vision={"enabled": True, "configs": {"variable_selector": ["start", "photo"], "detail": "low"}},
    )
    events = await run(
        graph([start(), node, end()], [("start", "llm"), ("llm", "end")]),
        inputs={"photo": FILE},
        services=services(model, files=Files()),
    )
    assert finished(events).status == "succeeded"
    content = model.requests[0].messages[-1].content
    assert isinstance(content, tuple)
    assert content[0] == TextPart("What is this?")
    image = content[1]
    assert isinstance(image, ImagePart)
    assert image.detail == "low"
    assert image.url.startswith("data:image/png;base64,")


async def test_vision_drops_images_for_a_model_that_cannot_see() -> None:
    model = ScriptedChatModel({"llm": "no idea"})
    node = llm(
        prompt_template=[{"role": "user", "text": "What is this?"}],
        vision={"enabled": True, "configs": {"variable_selector": ["start", "photo"]}},
    )
    await run(
        graph([start(), node, end()], [("start", "llm"), ("llm", "end")]),
        inputs={"photo": FILE},
        services=services(model, files=Files()),
    )
    assert model.requests[0].messages[-1].content == "What is this?"


def extractor(**data: Any) -> dict[str, Any]:
    return {
        "id": "extract",
        "type": "parameter-extractor",
        "model": {"provider": "fake", "name": "fake"},
        "query": ["start", "text"],
        "parameters": [
            {"name": "city", "type": "string", "required": True, "description": "the city"},
            {"name": "nights", "type": "number", "description": "how many nights"},
            {"name": "tags", "type": "array[string]"},
        ],
        **data,
    }


async def test_parameter_extractor_calls_its_tool_with_a_tool_calling_model() -> None:
    model = ScriptedChatModel(
        {"extract": {"tool_calls": [{"name": "extract_parameters", "arguments": {"city": "Oslo", "nights": 2}}]}},
        capabilities=ModelCapabilities(tool_calling=True),
    )
    events = await run(
        graph([start("text"), extractor(), end()], [("start", "extract"), ("extract", "end")]),
        inputs={"text": "two nights in Oslo"},
        services=services(model),
    )
    outputs = node_outputs(events, "extract")
    assert (outputs["city"], outputs["nights"], outputs["__is_success"]) == ("Oslo", 2, 1)
    request = model.requests[0]
    assert request.tool_choice == "extract_parameters"
    schema = request.tools[0].parameters
    assert schema["required"] == ["city"]
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}, "description": ""}


async def test_parameter_extractor_asks_for_json_in_prompt_mode() -> None:
    model = ScriptedChatModel(
        {"extract": json.dumps({"city": "Rome", "nights": "x"})}, capabilities=ModelCapabilities(tool_calling=True)
    )
    events = await run(
        graph([start("text"), extractor(reasoning_mode="prompt"), end()], [("start", "extract"), ("extract", "end")]),
        inputs={"text": "Rome"},
        services=services(model),
    )
    outputs = node_outputs(events, "extract")
    assert outputs["city"] == "Rome"
    assert outputs["__is_success"] == 0
    assert "nights must be a number" in outputs["__reason"]
    assert model.requests[0].tools == ()
