"""The OpenAI-compatible adapter against a scripted Chat Completions / Embeddings server on
127.0.0.1, reached through a real egress client: what it sends, what it makes of the
replies, how it fails, and the provider specs built from credential forms."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from plait.egress import Egress
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
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
)
from plait.providers.openai_compat import (
    COMPATIBLE_DEFAULT,
    PROVIDERS,
    OpenAIChatModel,
    OpenAIEmbeddingModel,
    OpenAIEndpoint,
    openai_capabilities,
)
from plait.providers.retry import NO_RETRY, RetryPolicy

from .conftest import SECRET_KEY, Waits
from .servers import (
    Reply,
    ScriptedServer,
    openai_chunk,
    openai_completion,
    openai_embeddings,
    openai_error,
    openai_sse,
    openai_text_stream,
    tool_fragment,
)

HELLO = ChatRequest([ChatMessage("system", "Be brief."), ChatMessage("user", "Hello?")], model="gpt-4o")
SPECS = {spec.id: spec for spec in PROVIDERS}

MakeChat = Callable[..., OpenAIChatModel]


@pytest.fixture
async def closing() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


@pytest.fixture
def make_chat(server: ScriptedServer, egress: Egress, retry: RetryPolicy, closing: AsyncExitStack) -> MakeChat:
    def make(
        name: str = "gpt-4o",
        *,
        capabilities: ModelCapabilities | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: float | None = None,
        **endpoint: Any,
    ) -> OpenAIChatModel:
        model = OpenAIChatModel(
            name,
            endpoint=OpenAIEndpoint(**{"base_url": server.url("/v1"), "api_key": SECRET_KEY, **endpoint}),
            http_client=egress.sdk_client(timeout=timeout),
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


async def chunks_of(model: OpenAIChatModel, request: ChatRequest = HELLO) -> list[ChatChunk]:
    return [chunk async for chunk in model.stream(request)]


# --- text, usage, streaming and blocking --------------------------------------------------


async def test_streamed_text_arrives_as_deltas_then_a_final_chunk(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(Reply.sse(openai_text_stream("Hel", "lo", "!")))
    chunks = await chunks_of(make_chat())
    assert [chunk.text for chunk in chunks if not chunk.final] == ["Hel", "lo", "!"]
    final = chunks[-1]
    assert final.final
    assert final.text == ""
    assert final.usage == Usage(11, 7)
    assert final.finish_reason == "stop"
    request = server.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert request.json() == {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_a_server_that_sends_no_usage_reports_zeros(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(Reply.sse(openai_text_stream("Hi", usage=None)))
    result = await collect(make_chat().stream(HELLO))
    assert result.text == "Hi"
    assert result.usage == Usage(0, 0)


async def test_a_model_that_cannot_stream_is_called_once_and_yields_one_final_chunk(
    server: ScriptedServer, make_chat: MakeChat
) -> None:
    server.reply(Reply.json(openai_completion("Whole answer.", usage=(9, 3), finish_reason="length")))
    chunks = await chunks_of(make_chat(capabilities=ModelCapabilities(streaming=False)))
    assert chunks == [ChatChunk("Whole answer.", final=True, usage=Usage(9, 3), finish_reason="length")]
    assert "stream" not in server.requests[0].json()


async def test_headers_and_organization_are_sent(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(Reply.sse(openai_text_stream("Hi")))
    await chunks_of(make_chat(organization="org-7", headers={"X-Tenant": "acme"}))
    headers = server.requests[0].headers
    assert headers["openai-organization"] == "org-7"
    assert headers["x-tenant"] == "acme"
    assert "openai-project" not in headers


async def test_nothing_of_the_servers_environment_rides_along(
    server: ScriptedServer, make_chat: MakeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK falls back to these when a value is not passed; Plait passes everything.
    for name, value in [
        ("OPENAI_API_KEY", "sk-from-the-environment"),
        ("OPENAI_ORG_ID", "org-from-the-environment"),
        ("OPENAI_PROJECT_ID", "proj-from-the-environment"),
        ("OPENAI_BASE_URL", "http://192.0.2.1/v1"),
    ]:
        monkeypatch.setenv(name, value)
    server.reply(Reply.sse(openai_text_stream("Hi")))
    await chunks_of(make_chat(api_key=None))
    headers = server.requests[0].headers
    assert "from-the-environment" not in json.dumps(headers)
    assert "openai-organization" not in headers
    assert "openai-project" not in headers


# --- tools ------------------------------------------------------------------------------


async def test_tool_call_fragments_are_assembled_per_index(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(
        Reply.sse(
            openai_sse(
                [
                    openai_chunk(role="assistant", content=None),
                    openai_chunk(tool_calls=[tool_fragment(0, id="call_a", name="get_weather", arguments="")]),
                    openai_chunk(tool_calls=[tool_fragment(0, arguments='{"city":')]),
                    openai_chunk(tool_calls=[tool_fragment(1, id="call_b", name="get_time", arguments='{"tz"')]),
                    openai_chunk(tool_calls=[tool_fragment(0, arguments=' "Paris"}')]),
                    openai_chunk(tool_calls=[tool_fragment(1, arguments=': "UTC"}')]),
                    openai_chunk(finish_reason="tool_calls"),
                    openai_chunk(usage=(30, 12)),
                ]
            )
        )
    )
    chunks = await chunks_of(make_chat())
    assert all(not chunk.tool_calls for chunk in chunks[:-1])
    final = chunks[-1]
    assert final.tool_calls == (
        ToolCall("call_a", "get_weather", '{"city": "Paris"}'),
        ToolCall("call_b", "get_time", '{"tz": "UTC"}'),
    )
    assert final.tool_calls[0].parsed() == {"city": "Paris"}
    assert final.finish_reason == "tool_calls"


async def test_tools_and_tool_choice_are_sent(server: ScriptedServer, make_chat: MakeChat) -> None:
    weather = ToolDefinition(
        "get_weather", "Weather now", {"type": "object", "properties": {"city": {"type": "string"}}}
    )
    model = make_chat()
    for choice, expected in [
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
        ("required", "required"),
        ("none", "none"),
    ]:
        server.reply(Reply.sse(openai_text_stream("ok")))
        await chunks_of(model, ChatRequest(HELLO.messages, model="m", tools=[weather], tool_choice=choice))
        assert server.requests[-1].json()["tool_choice"] == expected
    assert server.requests[0].json()["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather now",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]


async def test_tool_results_are_sent_back(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(Reply.sse(openai_text_stream("Sunny in Paris, 09:00 UTC.")))
    calls = (ToolCall("call_a", "get_weather", '{"city": "Paris"}'), ToolCall("call_b", "get_time", "{}"))
    request = ChatRequest(
        [
            ChatMessage("user", "Weather and time?"),
            ChatMessage("assistant", "", tool_calls=calls),
            ChatMessage("tool", "sunny", tool_call_id="call_a"),
            ChatMessage("tool", "09:00", tool_call_id="call_b"),
        ],
        model="m",
    )
    result = await collect(make_chat().stream(request))
    assert result.text == "Sunny in Paris, 09:00 UTC."
    assert server.requests[0].json()["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_b", "content": "09:00"},
    ]


async def test_a_tool_message_without_its_call_id_is_refused(server: ScriptedServer, make_chat: MakeChat) -> None:
    with pytest.raises(ModelBadRequest, match="tool_call_id"):
        await chunks_of(make_chat(), ChatRequest([ChatMessage("tool", "sunny")], model="m"))
    assert server.requests == []


# --- images, structured output, parameters, reasoning -----------------------------------


async def test_images_are_sent_as_image_url_parts(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(Reply.sse(openai_text_stream("A cat.")))
    content = (
        TextPart("What is this?"),
        ImagePart("data:image/png;base64,iVBORw0KGgo=", detail="low"),
        ImagePart("https://example.com/cat.jpg"),
    )
    await chunks_of(make_chat(), ChatRequest([ChatMessage("user", content)], model="m"))
    assert server.requests[0].json()["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "auto"}},
    ]


SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


@pytest.mark.parametrize(
    ("response_format", "parameters", "expected"),
    [
        (
            ResponseFormat("json_schema", SCHEMA, "reply"),
            {},
            {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA, "strict": True}},
        ),
        (ResponseFormat("json_object"), {}, {"type": "json_object"}),
        (None, {"response_format": "json_object"}, {"type": "json_object"}),
        (
            None,
            {"response_format": "json_schema", "json_schema": json.dumps({"name": "r", "schema": SCHEMA})},
            {"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA, "strict": True}},
        ),
        (
            None,
            {"response_format": "json_schema", "json_schema": json.dumps(SCHEMA)},
            {"type": "json_schema", "json_schema": {"name": "output", "schema": SCHEMA, "strict": True}},
        ),
    ],
)
async def test_structured_output_request_shape(
    server: ScriptedServer,
    make_chat: MakeChat,
    response_format: ResponseFormat | None,
    parameters: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    server.reply(Reply.sse(openai_text_stream('{"answer": "4"}')))
    request = ChatRequest(HELLO.messages, model="m", parameters=parameters, response_format=response_format)
    await chunks_of(make_chat(), request)
    assert server.requests[0].json()["response_format"] == expected


async def test_a_json_schema_parameter_that_is_not_json_is_refused(make_chat: MakeChat) -> None:
    request = ChatRequest(HELLO.messages, model="m", parameters={"response_format": "json_schema", "json_schema": "{"})
    with pytest.raises(ModelBadRequest, match="json_schema"):
        await chunks_of(make_chat(), request)


async def test_parameters_under_difys_names_and_nothing_else(server: ScriptedServer, make_chat: MakeChat) -> None:
    parameters = {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 256,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.3,
        "seed": 7,
        "stop": ["\n\n"],
        "top_k": 40,  # not an OpenAI parameter
        "response_format": "text",
        "repetition_penalty": None,
        "temperature_unknown": 1,
    }
    server.reply(Reply.sse(openai_text_stream("ok")), Reply.sse(openai_text_stream("ok")))
    await chunks_of(make_chat(), ChatRequest(HELLO.messages, model="m", parameters=parameters))
    body = server.requests[0].json()
    assert {
        key: value for key, value in body.items() if key not in ("model", "messages", "stream", "stream_options")
    } == {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 256,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.3,
        "seed": 7,
        "stop": ["\n\n"],
    }
    await chunks_of(make_chat(max_tokens_name="max_completion_tokens"), ChatRequest(HELLO.messages, "m", parameters))
    assert server.requests[1].json()["max_completion_tokens"] == 256
    assert "max_tokens" not in server.requests[1].json()


async def test_vendor_parameters_pass_only_where_the_endpoint_names_them(
    server: ScriptedServer, make_chat: MakeChat
) -> None:
    server.reply(Reply.sse(openai_text_stream("ok")))
    request = ChatRequest(HELLO.messages, model="m", parameters={"enable_thinking": True, "top_k": 5})
    await chunks_of(make_chat(extra_parameters=frozenset({"enable_thinking"})), request)
    body = server.requests[0].json()
    assert body["enable_thinking"] is True
    assert "top_k" not in body


async def test_reasoning_content_is_kept_apart_from_the_answer(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(
        Reply.sse(
            openai_sse(
                [
                    openai_chunk(role="assistant", content=""),
                    openai_chunk(reasoning="2 and 2 "),
                    openai_chunk(reasoning="make 4."),
                    openai_chunk(content="4"),
                    openai_chunk(finish_reason="stop"),
                    openai_chunk(usage=(5, 9)),
                ]
            )
        ),
        Reply.json(openai_completion("4", reasoning="Counted.")),
    )
    chunks = await chunks_of(make_chat("deepseek-reasoner"))
    assert [(chunk.text, chunk.reasoning) for chunk in chunks[:-1]] == [("", "2 and 2 "), ("", "make 4."), ("4", "")]
    blocking = await collect(
        make_chat("deepseek-reasoner", capabilities=ModelCapabilities(streaming=False)).stream(HELLO)
    )
    assert (blocking.text, blocking.reasoning) == ("4", "Counted.")


# --- errors -----------------------------------------------------------------------------


async def test_a_rate_limit_is_retried_after_the_time_the_server_names(
    server: ScriptedServer, make_chat: MakeChat, waits: Waits
) -> None:
    server.reply(
        openai_error(429, "Rate limit reached", type="requests", retry_after="7"),
        openai_error(429, "Rate limit reached", type="requests", retry_after_ms="250"),
        Reply.sse(openai_text_stream("Finally.")),
    )
    result = await collect(make_chat().stream(HELLO))
    assert result.text == "Finally."
    assert waits.seconds == [7.0, 0.25]
    assert len(server.requests) == 3


async def test_a_rate_limit_that_persists_is_raised_with_its_retry_after(
    server: ScriptedServer, make_chat: MakeChat
) -> None:
    server.reply(*[openai_error(429, "slow down", retry_after="3") for _ in range(3)])
    with pytest.raises(ModelRateLimited) as raised:
        await chunks_of(make_chat())
    assert raised.value.retry_after == 3.0
    assert raised.value.status == 429
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_is_an_auth_error_and_not_retried(
    server: ScriptedServer, make_chat: MakeChat, status: int
) -> None:
    server.reply(openai_error(status, "Incorrect API key provided", type="invalid_request_error"))
    with pytest.raises(ModelAuthFailed, match="refused the credentials"):
        await chunks_of(make_chat())
    assert len(server.requests) == 1


async def test_context_length_is_its_own_error(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(
        openai_error(400, "This model's maximum context length is 8192 tokens.", code="context_length_exceeded"),
        openai_error(400, "the request exceeds the available context size, try increasing it"),  # llama.cpp
    )
    for _ in range(2):
        with pytest.raises(ModelContextTooLong):
            await chunks_of(make_chat())
    assert len(server.requests) == 2


async def test_other_client_errors_are_bad_requests(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(openai_error(404, "The model `gpt-9` does not exist"), openai_error(422, "bad field"))
    for expected in ("does not exist", "bad field"):
        with pytest.raises(ModelBadRequest, match=expected) as raised:
            await chunks_of(make_chat())
        assert not isinstance(raised.value, ModelContextTooLong)
    assert len(server.requests) == 2


async def test_a_server_error_is_retried(server: ScriptedServer, make_chat: MakeChat, waits: Waits) -> None:
    server.reply(openai_error(500, "internal", type="server_error"), Reply.sse(openai_text_stream("Back.")))
    result = await collect(make_chat().stream(HELLO))
    assert result.text == "Back."
    assert waits.seconds == [0.25]


async def test_server_errors_that_persist_are_unavailable(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(*[openai_error(503, "overloaded", type="server_error") for _ in range(3)])
    with pytest.raises(ModelUnavailable, match="503"):
        await chunks_of(make_chat())
    assert len(server.requests) == 3


async def test_a_stream_cut_after_the_first_chunk_is_unavailable_and_not_retried(
    server: ScriptedServer, make_chat: MakeChat, waits: Waits
) -> None:
    server.reply(Reply.sse(openai_text_stream("Hel", "lo"), cut_after=2), Reply.sse(openai_text_stream("again")))
    received: list[str] = []
    with pytest.raises(ModelUnavailable, match="connection"):
        await drain(make_chat().stream(HELLO), received)
    assert received == ["Hel"]
    assert len(server.requests) == 1
    assert waits.seconds == []


async def test_a_stream_cut_before_anything_went_out_is_retried(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(Reply.sse(openai_text_stream("Hel", "lo"), cut_after=1), Reply.sse(openai_text_stream("Whole.")))
    result = await collect(make_chat().stream(HELLO))
    assert result.text == "Whole."
    assert len(server.requests) == 2


async def test_a_slow_server_is_a_timeout(server: ScriptedServer, make_chat: MakeChat) -> None:
    server.reply(Reply(delay=2), Reply(delay=2))
    model = make_chat(timeout=0.2, retry_policy=RetryPolicy(max_attempts=2, sleep=Waits().sleep))
    with pytest.raises(ModelTimeout):
        await chunks_of(model)
    assert len(server.requests) == 2  # a timeout is retryable


async def test_an_unreachable_server_is_unavailable(egress: Egress, closing: AsyncExitStack) -> None:
    idle = ScriptedServer()
    await idle.start()
    await idle.close()  # nothing listens on its port any more
    model = OpenAIChatModel(
        "m", endpoint=OpenAIEndpoint(base_url=idle.url("/v1")), http_client=egress.sdk_client(), retry=NO_RETRY
    )
    closing.push_async_callback(model.aclose)
    with pytest.raises(ModelUnavailable, match="connection to OpenAI failed"):
        await chunks_of(model)


async def test_egress_refusing_a_loopback_address_names_the_settings(
    server: ScriptedServer, strict_egress: Egress, closing: AsyncExitStack
) -> None:
    model = OpenAIChatModel(
        "llama3",
        endpoint=OpenAIEndpoint(base_url=server.url("/v1"), vendor="Ollama"),
        http_client=strict_egress.sdk_client(),
    )
    closing.push_async_callback(model.aclose)
    with pytest.raises(ModelBadRequest) as raised:
        await chunks_of(model)
    message = str(raised.value)
    assert "Ollama endpoint is not allowed" in message
    assert "PLAIT_EGRESS_ALLOWED_NETWORKS" in message
    assert "PLAIT_EGRESS_ALLOW_PRIVATE" in message
    assert server.requests == []  # refused before connecting, and not retried


@pytest.mark.parametrize(
    "reply",
    [
        openai_error(401, f"Incorrect API key provided: {SECRET_KEY}"),
        openai_error(400, f"key {SECRET_KEY} may not use this model"),
        openai_error(400, f"maximum context length exceeded for {SECRET_KEY}", code="context_length_exceeded"),
        openai_error(429, f"{SECRET_KEY} is over its quota", retry_after="999"),
        openai_error(500, f"crashed handling {SECRET_KEY}"),
        Reply(500, f"<html>{SECRET_KEY}</html>".encode()),
        Reply.sse(openai_text_stream("a", "b"), cut_after=2),
    ],
)
async def test_the_api_key_never_appears_in_an_error(server: ScriptedServer, make_chat: MakeChat, reply: Reply) -> None:
    server.reply(reply)
    with pytest.raises(ModelError) as raised:
        await chunks_of(make_chat(retry_policy=NO_RETRY))
    assert SECRET_KEY not in str(raised.value)
    assert SECRET_KEY not in raised.value.message
    assert SECRET_KEY not in repr(raised.value)


# --- embeddings ---------------------------------------------------------------------------


async def test_embeddings_are_batched_and_kept_in_order(
    server: ScriptedServer, egress: Egress, retry: RetryPolicy, closing: AsyncExitStack
) -> None:
    model = OpenAIEmbeddingModel(
        "nomic-embed-text",
        endpoint=OpenAIEndpoint(base_url=server.url("/v1")),
        http_client=egress.sdk_client(),
        max_batch_size=2,
        retry=retry,
    )
    closing.push_async_callback(model.aclose)
    server.reply(
        Reply.json(openai_embeddings([[1.0, 0.0], [0.0, 1.0]], prompt_tokens=4)),
        openai_error(503, "warming up", type="server_error"),
        Reply.json(openai_embeddings([[0.5, 0.5], [0.25, 0.75]], prompt_tokens=6)),
        Reply.json(openai_embeddings([[0.1, 0.9]], prompt_tokens=2)),
    )
    embeddings = await model.embed(["a", "b", "c", "d", "e"])
    assert embeddings.vectors == [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.25, 0.75], [0.1, 0.9]]
    assert embeddings.usage == Usage(prompt_tokens=12)
    assert model.dimensions == 2  # learned from the first reply
    inputs = [body["input"] for body in server.bodies]
    assert inputs == [["a", "b"], ["c", "d"], ["c", "d"], ["e"]]
    assert all(body["encoding_format"] == "float" and "dimensions" not in body for body in server.bodies)
    assert server.requests[0].path == "/v1/embeddings"
    assert await model.embed([]) == type(embeddings)([], Usage())
    assert len(server.requests) == 4


async def test_embedding_dimensions_are_requested_when_configured(
    server: ScriptedServer, egress: Egress, closing: AsyncExitStack
) -> None:
    model = OpenAIEmbeddingModel(
        "text-embedding-3-small",
        endpoint=OpenAIEndpoint(base_url=server.url("/v1"), api_key=SECRET_KEY),
        http_client=egress.sdk_client(),
        dimensions=3,
        request_dimensions=True,
    )
    closing.push_async_callback(model.aclose)
    server.reply(Reply.json(openai_embeddings([[0.1, 0.2, 0.3]])))
    assert (await model.embed(["x"], input_type="query")).vectors == [[0.1, 0.2, 0.3]]
    assert server.bodies[0]["dimensions"] == 3
    assert model.dimensions == 3


async def test_an_embedding_reply_of_the_wrong_length_is_an_error(
    server: ScriptedServer, egress: Egress, closing: AsyncExitStack
) -> None:
    model = OpenAIEmbeddingModel(
        "e", endpoint=OpenAIEndpoint(base_url=server.url("/v1")), http_client=egress.sdk_client(), retry=NO_RETRY
    )
    closing.push_async_callback(model.aclose)
    server.reply(Reply.json(openai_embeddings([[0.1]])))
    with pytest.raises(ModelUnavailable, match="1 embeddings for 2 texts"):
        await model.embed(["x", "y"])


# --- capabilities ---------------------------------------------------------------------------


def test_capabilities_by_family() -> None:
    assert openai_capabilities("gpt-4o-mini").vision
    assert openai_capabilities("gpt-4o-2024-08-06").structured_output
    assert openai_capabilities("gpt-5.1").reasoning
    assert openai_capabilities("o4-mini").reasoning
    assert openai_capabilities("o1-2024-12-17").reasoning
    o3_mini = openai_capabilities("o3-mini")
    assert o3_mini.reasoning
    assert not o3_mini.vision
    assert not openai_capabilities("gpt-4.1").reasoning
    assert openai_capabilities("gpt-4.1-nano").context_window == 1_047_576
    newer = openai_capabilities("gpt-5.4-mini")
    assert newer.reasoning
    assert newer.vision
    assert newer.context_window is None
    for unknown in ("llama3.1:8b", "Qwen/Qwen3-8B", "gpt-5-chat-latest", "gpt-4o-audio-preview", "gpt-6-luna"):
        assert openai_capabilities(unknown) == COMPATIBLE_DEFAULT
    assert COMPATIBLE_DEFAULT.streaming
    assert COMPATIBLE_DEFAULT.tool_calling
    assert not COMPATIBLE_DEFAULT.vision


def test_a_capabilities_override_wins(make_chat: MakeChat) -> None:
    declared = ModelCapabilities(vision=True, context_window=32_768)
    assert make_chat("my-finetune", capabilities=declared).capabilities == declared
    assert make_chat("gpt-4o").capabilities == openai_capabilities("gpt-4o")


# --- provider specs, end to end -------------------------------------------------------------


def test_the_specs_this_module_provides() -> None:
    assert set(SPECS) == {
        "openai",
        "azure_openai",
        "deepseek",
        "tongyi",
        "openai_api_compatible",
        "ollama",
        "vllm",
        "lm_studio",
        "llama_cpp",
    }
    for spec in PROVIDERS:
        assert spec.build_chat is not None
        assert all(
            field.kind == "secret" for field in (*spec.credential_fields, *spec.model_fields) if "key" in field.name
        )
    openai = SPECS["openai"]
    assert openai.model("gpt-4o", "llm") is not None
    assert openai.model("text-embedding-3-small", "text-embedding").dimensions == 1536  # type: ignore[union-attr]
    assert SPECS["deepseek"].model("deepseek-reasoner", "llm").capabilities.reasoning  # type: ignore[union-attr]
    assert SPECS["openai_api_compatible"].custom_models
    assert "openai_api_key" in openai.secret_fields()


async def test_openai_spec_builds_a_model_that_talks_to_the_server(
    server: ScriptedServer, egress: Egress, closing: AsyncExitStack
) -> None:
    spec = SPECS["openai"]
    credentials = {"openai_api_key": SECRET_KEY, "openai_api_base": server.url(), "openai_organization": ""}
    assert spec.build_chat is not None
    model = spec.build_chat(credentials, "gpt-4o", spec.model("gpt-4o", "llm"), egress)
    closing.push_async_callback(model.aclose)  # type: ignore[attr-defined]
    server.reply(Reply.sse(openai_text_stream("Hi from the spec.")))
    request = ChatRequest(HELLO.messages, model="gpt-4o", parameters={"max_tokens": 64})
    assert (await collect(model.stream(request))).text == "Hi from the spec."
    assert server.requests[0].path == "/v1/chat/completions"  # /v1 added to Dify's API base
    assert server.requests[0].json()["max_completion_tokens"] == 64
    assert "openai-organization" not in server.requests[0].headers


def test_a_missing_credential_is_named(egress: Egress) -> None:
    openai = SPECS["openai"]
    assert openai.build_chat is not None
    with pytest.raises(ModelNotConfigured, match="openai_api_key"):
        openai.build_chat({"openai_api_key": "  "}, "gpt-4o", None, egress)
    compatible = SPECS["openai_api_compatible"]
    assert compatible.build_embedding is not None
    with pytest.raises(ModelNotConfigured, match="endpoint_url"):
        compatible.build_embedding({"api_key": "k"}, "m", None, egress)
    with pytest.raises(ModelNotConfigured, match="context_size"):
        compatible.build_embedding({"endpoint_url": "http://x/v1", "context_size": "lots"}, "m", None, egress)


async def test_openai_compatible_spec_uses_the_form_fields(
    server: ScriptedServer, egress: Egress, closing: AsyncExitStack
) -> None:
    spec = SPECS["openai_api_compatible"]
    assert spec.build_chat is not None
    assert spec.build_embedding is not None
    credentials = {
        "endpoint_url": server.url("/v1/"),
        "api_key": "",
        "endpoint_model_name": "Qwen/Qwen3-8B",
        "context_size": "32768",
        "max_tokens_to_sample": "2048",
        "vision_support": "support",
        "function_calling_type": "no_call",
        "max_chunks": "1",
    }
    chat = spec.build_chat(credentials, "my-qwen", None, egress)
    closing.push_async_callback(chat.aclose)  # type: ignore[attr-defined]
    assert chat.capabilities == ModelCapabilities(
        tool_calling=False, vision=True, context_window=32768, max_output_tokens=2048
    )
    server.reply(Reply.sse(openai_text_stream("ok")))
    await collect(chat.stream(HELLO))
    assert server.bodies[0]["model"] == "Qwen/Qwen3-8B"
    embedding = spec.build_embedding(credentials, "my-embedder", None, egress)
    closing.push_async_callback(embedding.aclose)  # type: ignore[attr-defined]
    server.reply(Reply.json(openai_embeddings([[1.0]])), Reply.json(openai_embeddings([[2.0]])))
    assert (await embedding.embed(["a", "b"])).vectors == [[1.0], [2.0]]  # max_chunks 1: one text a request
    assert embedding.max_input_tokens == 32768
    assert [request.path for request in server.requests] == ["/v1/chat/completions", *["/v1/embeddings"] * 2]


async def test_ollama_spec_adds_v1_to_difys_base_url(
    server: ScriptedServer, egress: Egress, closing: AsyncExitStack
) -> None:
    spec = SPECS["ollama"]
    assert spec.build_chat is not None
    assert next(f for f in spec.model_fields if f.name == "base_url").default == "http://localhost:11434/v1"
    chat = spec.build_chat({"base_url": server.url(), "function_call_support": "false"}, "llama3.1", None, egress)
    closing.push_async_callback(chat.aclose)  # type: ignore[attr-defined]
    assert not chat.capabilities.tool_calling
    server.reply(Reply.sse(openai_text_stream("ok")))
    await collect(chat.stream(HELLO))
    assert server.requests[0].path == "/v1/chat/completions"
    assert server.bodies[0]["model"] == "llama3.1"
    assert "authorization" in server.requests[0].headers  # a placeholder: Ollama checks none


async def test_azure_spec_calls_the_deployment(server: ScriptedServer, egress: Egress, closing: AsyncExitStack) -> None:
    spec = SPECS["azure_openai"]
    assert spec.build_chat is not None
    credentials = {
        "openai_api_base": server.url(),
        "openai_api_key": SECRET_KEY,
        "openai_api_version": "2024-10-21",
        "base_model_name": "gpt-4o-mini",
    }
    chat = spec.build_chat(credentials, "prod-chat", None, egress)
    closing.push_async_callback(chat.aclose)  # type: ignore[attr-defined]
    assert chat.capabilities == openai_capabilities("gpt-4o-mini")
    server.reply(Reply.sse(openai_text_stream("Azure says hi.")))
    assert (await collect(chat.stream(HELLO))).text == "Azure says hi."
    request = server.requests[0]
    assert request.path == "/openai/deployments/prod-chat/chat/completions?api-version=2024-10-21"
    assert request.headers["api-key"] == SECRET_KEY
