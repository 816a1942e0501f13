"""Anthropic's Claude models, through the ``anthropic`` SDK (the Messages API).

What differs from Chat Completions, and is mapped here: the system prompt is a parameter
of its own; ``max_tokens`` is required (the request's, else the model's largest reply,
else 4096); tool calls are ``tool_use`` blocks whose input streams as pieces of JSON;
tool results are ``tool_result`` blocks in a user turn (consecutive turns of one role are
merged, as the API wants them); images are base64 (from ``data:`` URLs) or URL sources;
thinking blocks, when a ``thinking`` parameter turns them on, come out as reasoning.

The SDK speaks ``httpx2``; it is handed the egress's ``httpx2`` client
(``Egress.httpx2_client``), so the connection is still the egress's. Retries
are :class:`~plait.providers.retry.RetryPolicy`'s, never the SDK's.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import anthropic
from anthropic import types as wire

from plait.providers import credentials as forms
from plait.providers.base import (
    ChatChunk,
    ChatMessage,
    ChatModel,
    ChatRequest,
    ImagePart,
    ModelCapabilities,
    ResponseFormat,
    TextPart,
    ToolCall,
    Usage,
)
from plait.providers.catalog import CredentialField, HttpAccess, ModelPricing, ModelSpec, ProviderSpec
from plait.providers.errors import (
    ModelBadRequest,
    ModelError,
    ModelNotSupported,
    ModelTimeout,
    ModelUnavailable,
)
from plait.providers.failures import error_detail, from_status, from_transport, hide, model_errors
from plait.providers.retry import RetryPolicy

ANTHROPIC_URL = "https://api.anthropic.com"
DEFAULT_MAX_TOKENS = 4096
DEFAULT_THINKING_BUDGET = 1024
# The SDK refuses blocking calls it guesses may pass 10 minutes unless a timeout is given;
# the egress client's own limits are the ones that apply.
_SDK_TIMEOUT = 600.0

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# A stream that fails after its 200 names the error by type only.
_STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def _claude(*, structured: bool = True, output: int | None = 64_000) -> ModelCapabilities:
    return ModelCapabilities(
        tool_calling=True,
        vision=True,
        structured_output=structured,
        reasoning=True,
        context_window=200_000,
        max_output_tokens=output,
    )


_CLAUDE_FAMILIES: tuple[tuple[str, ModelCapabilities], ...] = (
    ("claude-opus-4-5", _claude()),
    ("claude-sonnet-4-5", _claude()),
    ("claude-haiku-4-5", _claude(structured=False)),
)
CLAUDE_DEFAULT = ModelCapabilities(tool_calling=True, vision=True)
"""Every Claude model since Claude 3 streams, calls tools and reads images."""


def anthropic_capabilities(model: str) -> ModelCapabilities:
    for prefix, capabilities in _CLAUDE_FAMILIES:
        if model == prefix or model.startswith(prefix + "-"):
            return capabilities
    return CLAUDE_DEFAULT


class AnthropicChatModel:
    """A Claude model. Close it with :meth:`aclose`: it owns ``http_client`` (an
    ``httpx2.AsyncClient`` from the egress)."""

    def __init__(
        self,
        name: str,
        *,
        api_key: str,
        http_client: Any,
        base_url: str = ANTHROPIC_URL,
        headers: Mapping[str, str] | None = None,
        capabilities: ModelCapabilities | None = None,
        retry: RetryPolicy | None = None,
        vendor: str = "Anthropic",
    ) -> None:
        self.name = name
        self.vendor = vendor
        self.capabilities = capabilities or anthropic_capabilities(name)
        self._api_key = api_key
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url.rstrip("/").removesuffix("/v1"),
            default_headers=dict(headers or {}),
            http_client=http_client,
            max_retries=0,
            timeout=_SDK_TIMEOUT,
        )
        self._retry = retry or RetryPolicy()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        body = messages_body(request, self.name, self.capabilities.max_output_tokens or DEFAULT_MAX_TOKENS)
        attempt = self._streamed if self.capabilities.streaming else self._blocking
        async for chunk in self._retry.stream(lambda: attempt(body)):
            yield chunk

    async def aclose(self) -> None:
        await self._client.close()

    async def _streamed(self, body: dict[str, Any]) -> AsyncGenerator[ChatChunk, None]:
        tool_uses: dict[int, tuple[str, str, list[str]]] = {}
        usage, stop_reason = Usage(), None
        with self._translated():
            stream = await self._client.messages.create(**body, stream=True)
            async with stream:
                async for event in stream:
                    if isinstance(event, wire.RawMessageStartEvent):
                        usage = Usage(_prompt_tokens(event.message.usage), event.message.usage.output_tokens)
                    elif isinstance(event, wire.RawContentBlockStartEvent):
                        block = event.content_block
                        if isinstance(block, wire.ToolUseBlock):
                            tool_uses[event.index] = (block.id, block.name, [])
                        elif isinstance(block, wire.TextBlock) and block.text:
                            yield ChatChunk(block.text)
                    elif isinstance(event, wire.RawContentBlockDeltaEvent):
                        delta = event.delta
                        if isinstance(delta, wire.TextDelta):
                            yield ChatChunk(delta.text)
                        elif isinstance(delta, wire.ThinkingDelta):
                            yield ChatChunk("", reasoning=delta.thinking)
                        elif isinstance(delta, wire.InputJSONDelta) and event.index in tool_uses:
                            tool_uses[event.index][2].append(delta.partial_json)
                    elif isinstance(event, wire.RawMessageDeltaEvent):
                        stop_reason = event.delta.stop_reason or stop_reason
                        # Counts here are running totals; input arrives here on some routes only.
                        prompt = _prompt_tokens(event.usage) if event.usage.input_tokens else usage.prompt_tokens
                        usage = Usage(prompt, event.usage.output_tokens)
        tool_calls = tuple(
            ToolCall(id, name, "".join(parts) or "{}") for _, (id, name, parts) in sorted(tool_uses.items())
        )
        yield ChatChunk("", final=True, usage=usage, finish_reason=_finish_reason(stop_reason), tool_calls=tool_calls)

    async def _blocking(self, body: dict[str, Any]) -> AsyncGenerator[ChatChunk, None]:
        with self._translated():
            message = await self._client.messages.create(**body)
        text, reasoning, calls = [], [], []
        for block in message.content:
            if isinstance(block, wire.TextBlock):
                text.append(block.text)
            elif isinstance(block, wire.ThinkingBlock):
                reasoning.append(block.thinking)
            elif isinstance(block, wire.ToolUseBlock):
                calls.append(ToolCall(block.id, block.name, json.dumps(block.input)))
        yield ChatChunk(
            "".join(text),
            final=True,
            usage=Usage(_prompt_tokens(message.usage), message.usage.output_tokens),
            finish_reason=_finish_reason(message.stop_reason),
            reasoning="".join(reasoning),
            tool_calls=tuple(calls),
        )

    def _translated(self) -> contextlib.AbstractContextManager[None]:
        return model_errors(translate, vendor=self.vendor, secret=self._api_key)


def translate(error: Exception, *, vendor: str, secret: str | None) -> ModelError | None:
    """The model error for an ``anthropic`` SDK error, a transport error under it, or an
    egress error; None for anything else (a bug to surface, not to disguise)."""
    if isinstance(error, ModelError):
        return error
    if isinstance(error, anthropic.APIStatusError):
        kind = getattr(error, "type", None)
        status = error.status_code if error.status_code >= 400 else _STATUS_OF_ERROR_TYPE.get(str(kind), 500)
        return from_status(
            status,
            error_detail(error.body) or error.message,
            vendor=vendor,
            headers=error.response.headers,
            code=str(kind) if kind else None,
            secret=secret,
        )
    translated = from_transport(error, vendor=vendor, secret=secret)
    if translated is not None:
        return translated
    if isinstance(error, anthropic.APITimeoutError):
        return ModelTimeout(f"{vendor} did not answer in time")
    if isinstance(error, anthropic.APIConnectionError):
        return ModelUnavailable(f"the connection to {vendor} failed")
    if isinstance(error, anthropic.AnthropicError):
        return ModelError(hide(f"{vendor} call failed: {error}", secret))
    return None


# --- request mapping ---------------------------------------------------------------------


def messages_body(request: ChatRequest, model: str, default_max_tokens: int) -> dict[str, Any]:
    """The Messages API request body for ``request`` (without ``stream``)."""
    parameters = request.parameters
    system, turns = _conversation(request.messages)
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": int(parameters.get("max_tokens") or default_max_tokens),
        "messages": turns,
    }
    if system:
        body["system"] = system
    stop = parameters.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    thinking = _thinking(parameters, body["max_tokens"])
    if thinking is not None:
        body["thinking"] = thinking
    else:
        # Not in this SDK's signature, but the API takes them; with thinking on it refuses them.
        sampling = {
            name: parameters[name] for name in ("temperature", "top_p", "top_k") if parameters.get(name) is not None
        }
        if sampling:
            body["extra_body"] = sampling
    if request.tools:
        body["tools"] = [
            {"name": tool.name, "description": tool.description, "input_schema": dict(tool.parameters)}
            for tool in request.tools
        ]
        if request.tool_choice:
            body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.response_format is not None:
        body["output_config"] = {"format": _output_format(request.response_format)}
    return body


def _conversation(messages: Sequence[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            system.append(message.text)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue  # the API refuses empty turns
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(text for text in system if text), turns


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        if not message.tool_call_id:
            raise ModelBadRequest("a tool message needs the tool_call_id of the call it answers")
        return [{"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.text}]
    parts: tuple[TextPart | ImagePart, ...] = (
        (TextPart(message.content),) if isinstance(message.content, str) else message.content
    )
    blocks: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif message.role == "user":
            blocks.append({"type": "image", "source": _image_source(part.url)})
    for call in message.tool_calls if message.role == "assistant" else ():
        try:
            arguments = call.parsed()
        except ValueError:
            raise ModelBadRequest(f"the arguments of tool call {call.id} are not a JSON object") from None
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
    return blocks


def _image_source(url: str) -> dict[str, Any]:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type, _, encoding = header[len("data:") :].partition(";")
        if encoding != "base64" or not data or not media_type.startswith("image/"):
            raise ModelBadRequest("an image data: URL must be data:image/<type>;base64,<data>")
        return {"type": "base64", "media_type": media_type, "data": data}
    if url.startswith(("https://", "http://")):
        return {"type": "url", "url": url}
    raise ModelBadRequest("an image must be an http(s) URL or a data: URL")


def _thinking(parameters: Mapping[str, Any], max_tokens: int) -> dict[str, Any] | None:
    """Dify's ``thinking`` switch (with ``thinking_budget``), or ``"adaptive"``."""
    value = parameters.get("thinking")
    if value == "adaptive":
        return {"type": "adaptive"}
    if value not in (True, "true", "enabled"):
        return None
    budget = int(parameters.get("thinking_budget") or DEFAULT_THINKING_BUDGET)
    if budget >= max_tokens:
        raise ModelBadRequest(f"thinking_budget ({budget}) must be less than max_tokens ({max_tokens})")
    return {"type": "enabled", "budget_tokens": budget}


def _tool_choice(choice: str) -> dict[str, Any]:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    return {"type": "tool", "name": choice}


def _output_format(response_format: ResponseFormat) -> dict[str, Any]:
    if response_format.kind != "json_schema" or response_format.schema is None:
        raise ModelNotSupported("Claude's structured output needs a JSON schema; a bare JSON object is not offered")
    return {"type": "json_schema", "schema": dict(response_format.schema)}


def _prompt_tokens(usage: wire.Usage | wire.MessageDeltaUsage) -> int:
    # input_tokens leaves out what was written to or read from the prompt cache.
    return (usage.input_tokens or 0) + (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)


def _finish_reason(reason: str | None) -> str:
    return _FINISH_REASONS.get(reason or "end_turn", reason or "stop")


# --- provider spec -----------------------------------------------------------------------


def _build_chat(credentials: Mapping[str, Any], model: str, spec: ModelSpec | None, http: HttpAccess) -> ChatModel:
    api_key = forms.required(credentials, "anthropic_api_key", provider="Anthropic")
    return AnthropicChatModel(
        model,
        api_key=api_key,
        base_url=forms.text(credentials, "anthropic_api_url") or ANTHROPIC_URL,
        http_client=http.httpx2_client(),
        capabilities=spec.capabilities if spec is not None else None,
    )


def _model(name: str, input_price: str, output_price: str, *, deprecated: bool = False) -> ModelSpec:
    pricing = ModelPricing(Decimal(input_price), Decimal(output_price))
    return ModelSpec(name, "llm", capabilities=anthropic_capabilities(name), pricing=pricing, deprecated=deprecated)


# Claude models the SDK lists, newest first. Capabilities and list prices (USD per million
# tokens) only for the models we could check them for; the newer ones get CLAUDE_DEFAULT
# and no price until someone does. ``deprecated``: the SDK names a retirement date (models
# already retired are left out).
ANTHROPIC = ProviderSpec(
    id="anthropic",
    label="Anthropic",
    model_types=("llm",),
    credential_fields=(
        CredentialField("anthropic_api_key", "API key", "secret", required=True),
        CredentialField("anthropic_api_url", "API URL", placeholder=ANTHROPIC_URL),
    ),
    models=(
        ModelSpec("claude-opus-5-5", "llm", capabilities=CLAUDE_DEFAULT),
        ModelSpec("claude-sonnet-5-5", "llm", capabilities=CLAUDE_DEFAULT),
        ModelSpec("claude-haiku-5-5", "llm", capabilities=CLAUDE_DEFAULT),
        _model("claude-opus-4-5", "5", "25", deprecated=True),
        _model("claude-haiku-4-5", "1", "5"),
    ),
    build_chat=_build_chat,
)

PROVIDERS: tuple[ProviderSpec, ...] = (ANTHROPIC,)
