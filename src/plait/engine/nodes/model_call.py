"""Calling a model from a node: resolving it, conversation memory, image inputs, a whole
(non-streamed) reply for nodes that parse what the model says, and Dify's usage object."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from plait.engine.files import data_url, file_label, files_in
from plait.engine.nodes.base import NodeContext, NodeFailed
from plait.errors import PlaitError
from plait.providers.base import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    ChatResult,
    ImagePart,
    ResponseFormat,
    TextPart,
    ToolDefinition,
    Usage,
    collect,
)
from plait.providers.errors import ModelError
from plait.providers.pricing import pricing_of, usage_record

DEFAULT_MEMORY_TURNS = 50
DEFAULT_VISION_SELECTOR = ("sys", "files")


async def resolve_model(ctx: NodeContext, config: Mapping[str, Any]) -> ChatModel:
    try:
        model: ChatModel = await ctx.services.models.chat(config)
    except ModelError as error:
        raise NodeFailed(error.message, "ModelError", code=error.code, status=error.status) from None
    return model


async def complete(
    ctx: NodeContext,
    config: Mapping[str, Any],
    messages: Sequence[ChatMessage],
    *,
    tools: Sequence[ToolDefinition] = (),
    tool_choice: str | None = None,
    response_format: ResponseFormat | None = None,
    model: ChatModel | None = None,
) -> tuple[ChatResult, dict[str, Any]]:
    """One whole reply and its Dify usage object."""
    chat_model = model or await resolve_model(ctx, config)
    request = ChatRequest(
        list(messages),
        str(config.get("name", "")),
        dict(config.get("completion_params") or {}),
        ctx.node_id,
        tools=tuple(tools),
        tool_choice=tool_choice,
        response_format=response_format,
    )
    started = time.perf_counter()
    try:
        result = await collect(chat_model.stream(request))
    except ModelError as error:
        raise NodeFailed(error.message, "ModelError", code=error.code, status=error.status) from None
    return result, usage_record(result.usage, pricing_of(chat_model), time.perf_counter() - started)


def usage_metadata(usage: Mapping[str, Any]) -> dict[str, Any]:
    """A node's ``execution_metadata`` for its model usage."""
    return {
        "total_tokens": usage.get("total_tokens", 0),
        "prompt_tokens": usage.get("prompt_tokens", 0),
        "completion_tokens": usage.get("completion_tokens", 0),
        "total_price": usage.get("total_price", "0"),
        "currency": usage.get("currency", "USD"),
    }


def usage_dict(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


async def memory_messages(ctx: NodeContext, memory: Mapping[str, Any] | None) -> list[ChatMessage]:
    """The conversation so far, as user/assistant messages, for a node with ``memory``
    (a window of ``size`` turns when the window is enabled)."""
    if not memory or ctx.services.memory is None:
        return []
    window = memory.get("window") or {}
    limit = DEFAULT_MEMORY_TURNS
    if window.get("enabled") and window.get("size"):
        limit = max(1, int(window["size"]))
    messages: list[ChatMessage] = []
    for query, answer in await ctx.services.memory.turns(limit):
        messages.append(ChatMessage("user", query))
        if answer:
            messages.append(ChatMessage("assistant", answer))
    return messages


async def image_parts(ctx: NodeContext, vision: Mapping[str, Any] | None, model: ChatModel) -> list[ImagePart]:
    """The images a node with ``vision`` enabled shows its model, or none when the model
    cannot see (Dify drops them the same way)."""
    if not vision or not vision.get("enabled") or not model.capabilities.vision:
        return []
    configs = vision.get("configs") or {}
    selector = configs.get("variable_selector") or DEFAULT_VISION_SELECTOR
    detail: Literal["auto", "low", "high"] = "high" if configs.get("detail") == "high" else "auto"
    if configs.get("detail") == "low":
        detail = "low"
    parts: list[ImagePart] = []
    for file in files_in(ctx.pool.get(selector)):
        if file.get("type") != "image":
            continue
        if file.get("transfer_method") == "remote_url" and file.get("remote_url"):
            parts.append(ImagePart(str(file["remote_url"]), detail))
            continue
        if ctx.services.files is None:
            raise NodeFailed(f"image {file_label(file)} cannot be read here", "FileError")
        try:
            content = await ctx.services.files.read(file)
        except PlaitError as error:
            raise NodeFailed(f"image {file_label(file)} cannot be read: {error.message}", "FileError") from None
        parts.append(ImagePart(data_url(content, str(file.get("mime_type") or "image/png")), detail))
    return parts


def with_images(messages: list[ChatMessage], images: Sequence[ImagePart]) -> list[ChatMessage]:
    """``messages`` with the images attached to the last user message."""
    if not images:
        return messages
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role == "user":
            content: tuple[TextPart | ImagePart, ...] = (TextPart(message.text), *images)
            messages[index] = ChatMessage("user", content)
            return messages
    return [*messages, ChatMessage("user", tuple(images))]


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def first_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in a model's reply (models wrap it in prose or code fences)."""
    match = _JSON_OBJECT.search(text)
    if not match:
        return None
    try:
        value = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
