"""``GET /v1/models`` and ``POST /v1/chat/completions`` on the app an app key opens.

The model listed is the app itself. The last user message is the turn's query; the user
and assistant messages before it are the conversation so far, which the app's nodes with
memory see (each call is a fresh conversation: the client keeps the history). System
messages are left to the app, which has its own prompt.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from plait.api import sse
from plait.api.deps import PlaitDep
from plait.api.service.auth import KeyApp
from plait.app.chat_runs import PreparedTurn
from plait.errors import InvalidInput
from plait.events import RunEvent, TextChunk, WorkflowFinished
from plait.storage.db.tables import App

router = APIRouter(prefix="/v1", tags=["openai"])


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(max_length=255)
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    user: str | None = Field(default=None, max_length=255)


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    return content or ""


def _history(messages: list[ChatMessageIn]) -> list[tuple[str, str]]:
    """(user, assistant) turns from the messages before the query."""
    turns: list[tuple[str, str]] = []
    for message in messages:
        if message.role == "user":
            turns.append((_text(message.content), ""))
        elif message.role == "assistant" and turns and not turns[-1][1]:
            turns[-1] = (turns[-1][0], _text(message.content))
    return turns


def _model_card(app: App) -> dict[str, Any]:
    return {"id": app.name, "object": "model", "created": int(app.created_at.timestamp()), "owned_by": "plait"}


@router.get("/models")
async def models(app: KeyApp) -> dict[str, Any]:
    return {"object": "list", "data": [_model_card(app)]}


def _usage(turn: PreparedTurn) -> dict[str, int]:
    usage = turn.usage or {}
    return {
        "prompt_tokens": int(usage.get("prompt_tokens", 0)),
        "completion_tokens": int(usage.get("completion_tokens", 0)),
        "total_tokens": int(usage.get("total_tokens", 0)),
    }


async def _chunks(turn: PreparedTurn, events: AsyncIterator[RunEvent], model: str) -> AsyncIterator[bytes]:
    identity = {
        "id": f"chatcmpl-{turn.message_id}",
        "object": "chat.completion.chunk",
        "created": turn.created_at,
        "model": model,
    }
    first = {
        **identity,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
    }
    yield sse.frame(first)
    async for event in events:
        if isinstance(event, TextChunk) and event.text:
            choice = {"index": 0, "delta": {"content": event.text}, "finish_reason": None}
            yield sse.frame({**identity, "choices": [choice]})
        elif isinstance(event, WorkflowFinished):
            finish = "stop" if event.status in ("succeeded", "partial-succeeded") else "error"
            yield sse.frame(
                {**identity, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}], "usage": _usage(turn)}
            )
    yield b"data: [DONE]\n\n"


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionBody, app: KeyApp, plait: PlaitDep
) -> dict[str, Any] | StreamingResponse:
    last = next((i for i in range(len(body.messages) - 1, -1, -1) if body.messages[i].role == "user"), None)
    if last is None:
        raise InvalidInput("messages must include a user message", params="messages")
    if app.mode == "agent-chat" and not body.stream:
        raise InvalidInput("Agent Chat App does not support blocking mode", params="stream")
    turn = await plait.chat_runs.prepare(
        app,
        user=body.user or "openai-client",
        query=_text(body.messages[last].content),
        inputs={},
        conversation_id=None,
    )
    turn.history = _history(body.messages[:last])
    slot = plait.active_requests.acquire(app)
    events = slot.around(plait.chat_runs.execute(turn))
    if body.stream:
        return StreamingResponse(_chunks(turn, events, body.model), media_type="text/event-stream", headers=sse.HEADERS)
    finished: WorkflowFinished | None = None
    async for event in events:
        if isinstance(event, WorkflowFinished):
            finished = event
    if turn.error is not None:
        raise turn.error
    finish = "stop" if finished and finished.status in ("succeeded", "partial-succeeded") else "error"
    return {
        "id": f"chatcmpl-{turn.message_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": turn.answer}, "finish_reason": finish}],
        "usage": _usage(turn),
    }
