"""A whole (non-streamed) model reply, for nodes that parse what the model says."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from plait.engine.nodes.base import NodeContext, NodeFailed
from plait.providers.base import ChatMessage, ChatRequest, Usage
from plait.providers.errors import ModelError


async def complete(ctx: NodeContext, model: Mapping[str, Any], messages: Sequence[ChatMessage]) -> tuple[str, Usage]:
    chat_model = ctx.services.chat_model(model)
    request = ChatRequest(
        list(messages), str(model.get("name", "")), dict(model.get("completion_params") or {}), ctx.node_id
    )
    parts: list[str] = []
    usage = Usage()
    try:
        async for chunk in chat_model.stream(request):
            parts.append(chunk.text)
            if chunk.usage is not None:
                usage = chunk.usage
    except ModelError as error:
        raise NodeFailed(str(error), "ModelError") from None
    return "".join(parts), usage


def usage_dict(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


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
