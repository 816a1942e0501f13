"""The Chat Completions wire format: a :class:`~plait.providers.base.ChatRequest` as the
request body OpenAI-compatible servers take, and their streamed fragments assembled back.

Kept apart from the adapter (:mod:`plait.providers.openai_compat`) because it is plain
data mapping: no SDK, no network, and a test can check a body by building it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from plait.providers.base import ChatMessage, ChatRequest, ResponseFormat, TextPart, ToolCall
from plait.providers.errors import ModelBadRequest, ModelUnavailable

# Dify's completion_params that the Chat Completions API shares; the rest are dropped.
SAMPLING_PARAMETERS = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "stop")

_FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls"}


def chat_body(
    request: ChatRequest,
    model: str,
    *,
    max_tokens_name: str = "max_tokens",
    extra_parameters: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The Chat Completions request for ``request``, as the keyword arguments of the SDK's
    ``chat.completions.create`` (``stream`` left to the caller).

    ``max_tokens_name`` is what the server calls the token cap; ``extra_parameters`` are
    vendor parameters passed on as they are (in ``extra_body``, which the SDK merges into
    the JSON body)."""
    body: dict[str, Any] = {"model": model, "messages": [_message(message) for message in request.messages]}
    parameters = request.parameters
    for name in SAMPLING_PARAMETERS:
        if parameters.get(name) is not None:
            body[name] = parameters[name]
    if parameters.get("max_tokens") is not None:
        body[max_tokens_name] = parameters["max_tokens"]
    if parameters.get("reasoning_effort") is not None:
        body["reasoning_effort"] = parameters["reasoning_effort"]
    extra = {name: parameters[name] for name in sorted(extra_parameters) if parameters.get(name) is not None}
    if extra:
        body["extra_body"] = extra
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": tool.name, "description": tool.description, "parameters": dict(tool.parameters)},
            }
            for tool in request.tools
        ]
        if request.tool_choice:
            body["tool_choice"] = _tool_choice(request.tool_choice)
    response_format = request.response_format or dify_response_format(parameters)
    if response_format is not None:
        body["response_format"] = _response_format(response_format)
    return body


def dify_response_format(parameters: Mapping[str, Any]) -> ResponseFormat | None:
    """The structured output a Dify ``completion_params`` asks for: ``response_format`` is
    ``"json_object"`` or ``"json_schema"``, the schema a JSON string in ``json_schema``
    (``{"name", "schema"}`` or the bare schema)."""
    kind = parameters.get("response_format")
    if isinstance(kind, Mapping):
        kind = kind.get("type")
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind != "json_schema":
        return None
    schema: Any = parameters.get("json_schema")
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError:
            raise ModelBadRequest("the json_schema parameter is not valid JSON") from None
    if not isinstance(schema, Mapping):
        raise ModelBadRequest("response_format json_schema needs a json_schema parameter holding the schema")
    if isinstance(schema.get("schema"), Mapping):
        return ResponseFormat("json_schema", schema["schema"], str(schema.get("name") or "output"))
    return ResponseFormat("json_schema", schema)


def _message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        if not message.tool_call_id:
            raise ModelBadRequest("a tool message needs the tool_call_id of the call it answers")
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text}
    mapped: dict[str, Any] = {"role": message.role, "content": _content(message)}
    if message.name:
        mapped["name"] = message.name
    if message.role == "assistant" and message.tool_calls:
        mapped["content"] = message.text or None
        mapped["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments or "{}"}}
            for call in message.tool_calls
        ]
    return mapped


def _content(message: ChatMessage) -> str | list[dict[str, Any]]:
    if isinstance(message.content, str):
        return message.content
    if message.role != "user":
        # Only user messages take images; the others are text.
        return message.text
    return [
        {"type": "text", "text": part.text}
        if isinstance(part, TextPart)
        else {"type": "image_url", "image_url": {"url": part.url, "detail": part.detail}}
        for part in message.content
    ]


def _tool_choice(choice: str) -> str | dict[str, Any]:
    if choice in ("auto", "required", "none"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _response_format(response_format: ResponseFormat) -> dict[str, Any]:
    if response_format.kind == "json_object" or response_format.schema is None:
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {"name": response_format.name, "schema": dict(response_format.schema), "strict": True},
    }


class ToolCallParts:
    """Tool calls arrive in fragments keyed by ``index``: the id and name once, the
    arguments as pieces of JSON text. Assembled whole at the end of the reply."""

    def __init__(self) -> None:
        self._parts: dict[int, tuple[list[str], list[str], list[str]]] = {}

    def add(self, fragment: Any) -> None:
        ids, names, arguments = self._parts.setdefault(fragment.index, ([], [], []))
        if fragment.id:
            ids.append(fragment.id)
        function = fragment.function
        if function is not None:
            if function.name:
                names.append(function.name)
            if function.arguments:
                arguments.append(function.arguments)

    def add_dict(self, fragment: Mapping[str, Any]) -> None:
        """A fragment as the wire has it (a JSON object)."""
        ids, names, arguments = self._parts.setdefault(int(fragment.get("index") or 0), ([], [], []))
        if fragment.get("id"):
            ids.append(str(fragment["id"]))
        function = fragment.get("function") or {}
        if function.get("name"):
            names.append(str(function["name"]))
        if function.get("arguments"):
            arguments.append(str(function["arguments"]))

    def assembled(self) -> tuple[ToolCall, ...]:
        return tuple(
            # Some servers repeat the id (or the whole name) in every fragment: the first wins.
            ToolCall(ids[0] if ids else f"call_{index}", names[0] if names else "", "".join(arguments) or "{}")
            for index, (ids, names, arguments) in sorted(self._parts.items())
        )


def reasoning_of(delta: Any) -> str:
    """DeepSeek, Qwen and vLLM send the reasoning as ``reasoning_content``; newer vLLM and
    Ollama as ``reasoning``. Neither is in the SDK's types, so it sits in the extras."""
    extra = getattr(delta, "model_extra", None) or {}
    value = extra.get("reasoning_content") or extra.get("reasoning")
    return value if isinstance(value, str) else ""


def reasoning_in(delta: Mapping[str, Any]) -> str:
    """:func:`reasoning_of` for a delta as the wire has it."""
    value = delta.get("reasoning_content") or delta.get("reasoning")
    return value if isinstance(value, str) else ""


DONE: Any = object()  # the ``data: [DONE]`` line that ends a stream


def sse_data(line: str, vendor: str) -> dict[str, Any] | Any | None:
    """One line of a Chat Completions event stream: its JSON object, :data:`DONE`, or None
    for lines that carry no data (comments, ``event:`` lines, blank lines). A server that
    reports an error inside the stream (vLLM, LiteLLM do) raises ``ModelUnavailable``."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return DONE
    if not data:
        return None
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise ModelUnavailable(f"{vendor} sent a stream event that is not JSON") from None
    if not isinstance(chunk, dict):
        raise ModelUnavailable(f"{vendor} sent a stream event that is not a JSON object")
    error = chunk.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise ModelUnavailable(f"{vendor} failed in the middle of its reply: {str(message)[:500]}")
    return chunk


def finish_reason_of(reason: str | None, tool_calls: tuple[ToolCall, ...]) -> str:
    if reason is None:
        return "tool_calls" if tool_calls else "stop"
    return _FINISH_REASONS.get(reason, reason)
