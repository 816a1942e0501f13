"""The Anthropic adapter against a scripted Messages API server on 127.0.0.1 (blocking JSON
and SSE), reached through a real egress client bridged to the SDK's httpx2."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from plait.egress import Egress
from plait.providers.anthropic import (
    CLAUDE_DEFAULT,
    PROVIDERS,
    AnthropicChatModel,
    anthropic_capabilities,
)
from plait.providers.base import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ImagePart,
    ModelCapabilities,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolDefinition,
    Usage,
    collect,
)
from plait.providers.errors import (
    ModelAuthFailed,
    ModelBadRequest,
    ModelContextTooLong,
    ModelError,
    ModelNotConfigured,
    ModelNotSupported,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
)
from plait.providers.retry import NO_RETRY, RetryPolicy

from .conftest import SECRET_KEY, Waits
from .servers import (
    Reply,
    ScriptedServer,
    anthropic_error,
    anthropic_message,
    anthropic_sse,
    anthropic_stream,
    text_block,
    thinking_block,
    tool_use_block,
)

HELLO = ChatRequest([ChatMessage("system", "Be brief."), ChatMessage("user", "Hello?")], model="claude")
SPEC = PROVIDERS[0]

MakeChat = Callable[..., AnthropicChatModel]


@pytest.fixture
async def closing() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


@pytest.fixture
def make_chat(server: ScriptedServer, egress: Egress, retry: RetryPolicy, closing: AsyncExitStack) -> MakeChat:
    def make(
        name: str = "claude-haiku-4-5",
        *,
        capabilities: ModelCapabilities | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: float | None = None,
        http: Egress | None = None,
    ) -> AnthropicChatModel:
        model = AnthropicChatModel(
            name,
            api_key=SECRET_KEY,
            base_url=server.url(),
            http_client=(http or egress).httpx2_client(timeout=timeout),
            capabilities=capabilities,
            retry=retry_policy or retry,
        )
        closing.push_async_callback(model.aclose)
        return model

    return make


async def drain(stream: AsyncIterator[ChatChunk], received: list[str]) -> None:
    """Read ``stream`` into ``received`` until it ends or fails."""
    async for chunk in stream:
        received.append(chunk.text)


async def chunks_of(model: AnthropicChatModel, request: ChatRequest = HELLO) -> list[ChatChunk]:
    return [chunk async for chunk in model.stream(request)]


def ok_stream(*pieces: str) -> Reply:
    return Reply.sse(anthropic_stream([text_block(*pieces)]))


async def test_streamed_text_usage_and_the_request(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(ok_stream("Hel", "lo"))
    chunks = await chunks_of(make_chat())
    assert [chunk.text for chunk in chunks[:-1]] == ["Hel", "lo"]
    assert chunks[-1] == ChatChunk("", final=True, usage=Usage(12, 6), finish_reason="stop")
    request = server.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert SECRET_KEY in request.headers["authorization"]
    assert "anthropic-version" in request.headers
    assert request.json() == {
        "model": "claude-haiku-4-5",
        "max_tokens": 64_000,  # the model's largest reply
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello?"}]}],
        "stream": True,
    }


async def test_max_tokens_parameters_and_stop_sequences(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(ok_stream("a"), ok_stream("b"))
    await chunks_of(make_chat("claude-future-9"))
    assert server.bodies[0]["max_tokens"] == 4096  # unknown model: the default
    parameters = {"max_tokens": 100, "temperature": 0.3, "top_k": 5, "stop": "END", "presence_penalty": 1}
    await chunks_of(make_chat(), ChatRequest(HELLO.messages, model="m", parameters=parameters))
    body = server.bodies[1]
    assert (body["max_tokens"], body["temperature"], body["top_k"], body["stop_sequences"]) == (100, 0.3, 5, ["END"])
    assert "presence_penalty" not in body


async def test_tool_use_input_is_assembled_from_json_deltas(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(
        Reply.sse(
            anthropic_stream(
                [
                    text_block("Let me check."),
                    tool_use_block("toolu_1", "get_weather", '{"ci', 'ty": "Par', 'is"}'),
                    tool_use_block("toolu_2", "get_time"),
                ],
                stop_reason="tool_use",
                usage=(40, 20),
            )
        )
    )
    chunks = await chunks_of(make_chat())
    assert [chunk.text for chunk in chunks[:-1]] == ["Let me check."]
    final = chunks[-1]
    assert final.tool_calls == (
        ToolCall("toolu_1", "get_weather", '{"city": "Paris"}'),
        ToolCall("toolu_2", "get_time", "{}"),
    )
    assert (final.finish_reason, final.usage) == ("tool_calls", Usage(40, 20))


async def test_tools_tool_choice_and_tool_results(server: ScriptedServer, make_chat: MakeChat) -> None:
    weather = ToolDefinition(
        "get_weather", "Weather now", {"type": "object", "properties": {"city": {"type": "string"}}}
    )
    calls = (ToolCall("toolu_1", "get_weather", '{"city": "Paris"}'), ToolCall("toolu_2", "get_time", ""))
    request = ChatRequest(
        [
            ChatMessage("user", "Weather and time?"),
            ChatMessage("assistant", "Checking.", tool_calls=calls),
            ChatMessage("tool", "sunny", tool_call_id="toolu_1"),
            ChatMessage("tool", "09:00", tool_call_id="toolu_2"),
            ChatMessage("user", "Thanks!"),
        ],
        model="m",
        tools=[weather],
        tool_choice="required",
    )
    server.reply(ok_stream("Sunny, 09:00."))
    assert (await collect(make_chat().stream(request))).text == "Sunny, 09:00."
    body = server.bodies[0]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather now",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert body["tool_choice"] == {"type": "any"}
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
            ],
        },
        {
            # Both results in one user turn, the user's next words after them.
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "09:00"},
                {"type": "text", "text": "Thanks!"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", {"type": "auto"}), ("none", {"type": "none"}), ("get_weather", {"type": "tool", "name": "get_weather"})],
)
async def test_tool_choice_forms(server: ScriptedServer, make_chat: MakeChat, choice: str, expected: Any) -> None:
    server.reply(ok_stream("ok"))
    request = ChatRequest(HELLO.messages, model="m", tools=[ToolDefinition("get_weather")], tool_choice=choice)
    await chunks_of(make_chat(), request)
    assert server.bodies[0]["tool_choice"] == expected


async def test_images_as_base64_and_url_sources(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(ok_stream("Two cats."))
    content = (
        TextPart("Compare:"),
        ImagePart("data:image/png;base64,iVBORw0KGgo="),
        ImagePart("https://example.com/cat.jpg", detail="high"),
    )
    await chunks_of(make_chat(), ChatRequest([ChatMessage("user", content)], model="m"))
    assert server.bodies[0]["messages"][0]["content"] == [
        {"type": "text", "text": "Compare:"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


@pytest.mark.parametrize("url", ["data:text/plain;base64,aGk=", "data:image/png,raw", "file:///etc/passwd"])
async def test_images_that_are_not_image_urls_are_refused(
    server: ScriptedServer, make_chat: MakeChat, url: str
) -> None:
    with pytest.raises(ModelBadRequest, match="image"):
        await chunks_of(make_chat(), ChatRequest([ChatMessage("user", (ImagePart(url),))], model="m"))
    assert server.requests == []


async def test_thinking_comes_out_as_reasoning(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(Reply.sse(anthropic_stream([thinking_block("Two ", "and two."), text_block("4")])))
    parameters = {"thinking": True, "thinking_budget": 2048, "max_tokens": 8000, "temperature": 0.5}
    chunks = await chunks_of(make_chat(), ChatRequest(HELLO.messages, model="m", parameters=parameters))
    assert [(chunk.text, chunk.reasoning) for chunk in chunks[:-1]] == [("", "Two "), ("", "and two."), ("4", "")]
    body = server.bodies[0]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "temperature" not in body  # the API refuses sampling parameters with thinking on


async def test_a_thinking_budget_over_max_tokens_is_refused(make_chat: MakeChat) -> None:
    parameters = {"thinking": True, "thinking_budget": 5000, "max_tokens": 4000}
    with pytest.raises(ModelBadRequest, match="thinking_budget"):
        await chunks_of(make_chat(), ChatRequest(HELLO.messages, model="m", parameters=parameters))


async def test_structured_output_needs_a_schema(server: ScriptedServer, make_chat: MakeChat) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    server.reply(ok_stream('{"answer": "4"}'))
    request = ChatRequest(HELLO.messages, model="m", response_format=ResponseFormat("json_schema", schema))
    assert (await collect(make_chat().stream(request))).text == '{"answer": "4"}'
    assert server.bodies[0]["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    with pytest.raises(ModelNotSupported):
        await chunks_of(
            make_chat(), ChatRequest(HELLO.messages, model="m", response_format=ResponseFormat("json_object"))
        )


async def test_a_model_that_cannot_stream_gets_one_blocking_call(server: ScriptedServer, make_chat: MakeChat) -> None:
    blocks = [
        {"type": "thinking", "thinking": "Look it up.", "signature": "sig"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {"q": "plait"}},
    ]
    server.reply(Reply.json(anthropic_message(blocks, stop_reason="tool_use", usage=(30, 10))))
    chunks = await chunks_of(make_chat(capabilities=ModelCapabilities(streaming=False)))
    assert chunks == [
        ChatChunk(
            "Checking.",
            final=True,
            usage=Usage(30, 10),
            finish_reason="tool_calls",
            reasoning="Look it up.",
            tool_calls=(ToolCall("toolu_9", "lookup", '{"q": "plait"}'),),
        )
    ]
    assert "stream" not in server.bodies[0]


# --- errors -----------------------------------------------------------------------------


async def test_a_rate_limit_is_retried_after_retry_after(
    server: ScriptedServer, make_chat: MakeChat, waits: Waits
) -> None:
    server.reply(
        anthropic_error(429, "rate_limit_error", "Number of requests exceeded", retry_after="4"), ok_stream("Ok.")
    )
    assert (await collect(make_chat().stream(HELLO))).text == "Ok."
    assert waits.seconds == [4.0]


async def test_a_rate_limit_that_persists_keeps_its_retry_after(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(anthropic_error(429, "rate_limit_error", "slow down", retry_after="30"))
    with pytest.raises(ModelRateLimited) as raised:
        await chunks_of(make_chat(retry_policy=NO_RETRY))
    assert raised.value.retry_after == 30.0


async def test_a_refused_key_is_an_auth_error(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(anthropic_error(401, "authentication_error", "invalid x-api-key"))
    with pytest.raises(ModelAuthFailed, match="invalid x-api-key"):
        await chunks_of(make_chat())
    assert len(server.requests) == 1


async def test_a_prompt_too_long_is_context_too_long(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(anthropic_error(400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"))
    with pytest.raises(ModelContextTooLong, match="prompt is too long"):
        await chunks_of(make_chat())


async def test_overloaded_is_unavailable_and_retried(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(
        anthropic_error(529, "overloaded_error", "Overloaded"),
        anthropic_error(500, "api_error", "Internal server error"),
        ok_stream("Back."),
    )
    assert (await collect(make_chat().stream(HELLO))).text == "Back."
    server.reply(*[anthropic_error(529, "overloaded_error", "Overloaded") for _ in range(3)])
    with pytest.raises(ModelUnavailable, match="529"):
        await chunks_of(make_chat())
    assert len(server.requests) == 6


async def test_an_error_event_after_text_went_out_is_raised(server: ScriptedServer, make_chat: MakeChat) -> None:
    start = anthropic_message([], stop_reason=None)  # type: ignore[arg-type]
    events = [
        ("message_start", {"message": start}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Half"}}),
        ("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ]
    server.reply(Reply.sse(anthropic_sse(events)))
    received: list[str] = []
    with pytest.raises(ModelUnavailable, match="Overloaded"):
        await drain(make_chat().stream(HELLO), received)
    assert received == ["Half"]
    assert len(server.requests) == 1


async def test_a_stream_cut_in_the_middle_is_unavailable_and_not_retried(
    server: ScriptedServer, make_chat: MakeChat, waits: Waits
) -> None:
    server.reply(Reply.sse(anthropic_stream([text_block("Hel", "lo")]), cut_after=4), ok_stream("again"))
    received: list[str] = []
    with pytest.raises(ModelUnavailable, match="connection"):
        await drain(make_chat().stream(HELLO), received)
    assert received == ["Hel"]
    assert len(server.requests) == 1
    assert waits.seconds == []


async def test_a_slow_server_is_a_timeout(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(Reply(delay=2))
    with pytest.raises(ModelTimeout):
        await chunks_of(make_chat(timeout=0.2, retry_policy=NO_RETRY))


async def test_egress_refusing_a_loopback_address_names_the_settings(
    server: ScriptedServer, make_chat: MakeChat, strict_egress: Egress
) -> None:
    with pytest.raises(ModelBadRequest) as raised:
        await chunks_of(make_chat(http=strict_egress))
    assert "Anthropic endpoint is not allowed" in str(raised.value)
    assert "PLAIT_EGRESS_ALLOWED_NETWORKS" in str(raised.value)
    assert "PLAIT_EGRESS_ALLOW_PRIVATE" in str(raised.value)
    assert server.requests == []


@pytest.mark.parametrize(
    "reply",
    [
        anthropic_error(401, "authentication_error", f"invalid key {SECRET_KEY}"),
        anthropic_error(400, "invalid_request_error", f"prompt is too long for {SECRET_KEY}"),
        anthropic_error(529, "overloaded_error", f"{SECRET_KEY} overloaded"),
        Reply(502, f"bad gateway for {SECRET_KEY}".encode()),
        Reply.sse(anthropic_stream([text_block("a", "b")]), cut_after=4),
    ],
)
async def test_the_api_key_never_appears_in_an_error(server: ScriptedServer, make_chat: MakeChat, reply: Reply) -> None:
    server.reply(reply)
    with pytest.raises(ModelError) as raised:
        await chunks_of(make_chat(retry_policy=NO_RETRY))
    assert SECRET_KEY not in str(raised.value)
    assert SECRET_KEY not in repr(raised.value)


async def test_no_cookie_is_kept_between_calls(server: ScriptedServer, make_chat: MakeChat) -> None:
    with_cookie = Reply(events=ok_stream("a").events, headers={"Set-Cookie": "session=tenant-a; Path=/"})
    server.reply(with_cookie, ok_stream("b"))
    model = make_chat()
    await chunks_of(model)
    await chunks_of(model)
    assert "cookie" not in server.requests[1].headers


# --- capabilities and the provider spec -----------------------------------------------------


def test_capabilities() -> None:
    sonnet = anthropic_capabilities("claude-sonnet-4-5-20250929")  # a dated snapshot
    assert sonnet.vision
    assert sonnet.tool_calling
    assert sonnet.reasoning
    assert sonnet.structured_output
    assert sonnet.context_window == 200_000
    assert not anthropic_capabilities("claude-haiku-4-5").structured_output
    assert anthropic_capabilities("claude-fable-5-2") == CLAUDE_DEFAULT
    assert CLAUDE_DEFAULT.vision
    assert CLAUDE_DEFAULT.tool_calling
    assert CLAUDE_DEFAULT.streaming


async def test_the_spec_builds_a_model_that_talks_to_the_server(
    server: ScriptedServer, egress: Egress, closing: AsyncExitStack
) -> None:
    assert SPEC.id == "anthropic"
    assert SPEC.build_chat is not None
    assert SPEC.secret_fields() == {"anthropic_api_key"}
    credentials = {"anthropic_api_key": SECRET_KEY, "anthropic_api_url": server.url("/v1")}
    model = SPEC.build_chat(credentials, "claude-haiku-4-5", SPEC.model("claude-haiku-4-5", "llm"), egress)
    closing.push_async_callback(model.aclose)  # type: ignore[attr-defined]
    server.reply(ok_stream("Hi from the spec."))
    assert (await collect(model.stream(HELLO))).text == "Hi from the spec."
    assert server.requests[0].path == "/v1/messages"
    with pytest.raises(ModelNotConfigured, match="anthropic_api_key"):
        SPEC.build_chat({}, "claude-haiku-4-5", None, egress)
    priced = {spec.name for spec in SPEC.models if spec.pricing is not None}
    assert priced == {"claude-opus-4-5", "claude-haiku-4-5"}
