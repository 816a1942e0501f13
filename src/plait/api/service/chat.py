"""Chat apps: send a message (blocking or streaming)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from plait.api import sse
from plait.api.deps import PlaitDep
from plait.api.service.auth import KeyApp
from plait.app.chat_runs import PreparedTurn
from plait.events import RunEvent

router = APIRouter(tags=["service: chat"])


class ChatBody(BaseModel):
    query: str = Field(max_length=100_000)
    inputs: dict[str, Any]
    user: str = Field(min_length=1, max_length=255)
    response_mode: Literal["blocking", "streaming"] | None = None
    conversation_id: str | None = None
    files: list[dict[str, Any]] | None = None
    auto_generate_name: bool = True


def _metadata(turn: PreparedTurn) -> dict[str, Any]:
    return {"metadata": {"usage": turn.usage, "retriever_resources": []}, "files": None}


@router.post("/chat-messages", response_model=None)
async def chat_messages(body: ChatBody, app: KeyApp, plait: PlaitDep) -> dict[str, Any] | StreamingResponse:
    chats = plait.chat_runs
    turn = await chats.prepare(
        app, user=body.user, query=body.query, inputs=body.inputs, conversation_id=body.conversation_id or None
    )
    slot = plait.active_requests.acquire(app)
    events = slot.around(chats.execute(turn))
    if body.response_mode == "streaming":

        def encode(event: RunEvent) -> list[dict[str, Any]]:
            return sse.chat_event(
                event,
                task_id=turn.task_id,
                run_id=turn.run_id,
                workflow_id=turn.version.id,
                message_id=turn.message_id,
                conversation_id=turn.conversation_id,
                created_at=turn.created_at,
                message_end=lambda: _metadata(turn),
                mode=app.mode,
            )

        frames = sse.stream(events, encode)
        return StreamingResponse(frames, media_type="text/event-stream", headers=sse.HEADERS)

    async for _event in events:
        pass
    return {
        "event": "message",
        "task_id": turn.task_id,
        "id": turn.message_id,
        "message_id": turn.message_id,
        "conversation_id": turn.conversation_id,
        "mode": app.mode,
        "answer": turn.answer,
        "metadata": {"usage": turn.usage, "retriever_resources": []},
        "created_at": turn.created_at,
    }


class StopBody(BaseModel):
    user: str = Field(min_length=1, max_length=255)


@router.post("/chat-messages/{task_id}/stop")
async def stop_chat(task_id: str, body: StopBody, app: KeyApp, plait: PlaitDep) -> dict[str, str]:
    # Only the user who started the turn can stop it; anyone else is silently ignored, as in Dify.
    plait.workflow_runs.tasks.stop(task_id, app_id=app.id, user=body.user)
    return {"result": "success"}


class CompletionBody(BaseModel):
    inputs: dict[str, Any]
    user: str = Field(min_length=1, max_length=255)
    query: str = Field(default="", max_length=100_000)
    response_mode: Literal["blocking", "streaming"] | None = None
    files: list[dict[str, Any]] | None = None


@router.post("/completion-messages", response_model=None)
async def completion_messages(body: CompletionBody, app: KeyApp, plait: PlaitDep) -> dict[str, Any] | StreamingResponse:
    chats = plait.chat_runs
    turn = await chats.prepare(
        app, user=body.user, query=body.query, inputs=body.inputs, conversation_id=None, completion=True
    )
    slot = plait.active_requests.acquire(app)
    events = slot.around(chats.execute(turn))
    if body.response_mode == "streaming":

        def encode(event: RunEvent) -> list[dict[str, Any]]:
            return sse.chat_event(
                event,
                task_id=turn.task_id,
                run_id=turn.run_id,
                workflow_id=turn.version.id,
                message_id=turn.message_id,
                conversation_id=turn.conversation_id,
                created_at=turn.created_at,
                message_end=lambda: _metadata(turn),
                mode="completion",
            )

        return StreamingResponse(sse.stream(events, encode), media_type="text/event-stream", headers=sse.HEADERS)
    async for _event in events:
        pass
    return {
        "event": "message",
        "task_id": turn.task_id,
        "id": turn.message_id,
        "message_id": turn.message_id,
        "mode": "completion",
        "answer": turn.answer,
        "metadata": {"usage": turn.usage, "retriever_resources": []},
        "created_at": turn.created_at,
    }


@router.post("/completion-messages/{task_id}/stop")
async def stop_completion(task_id: str, body: StopBody, app: KeyApp, plait: PlaitDep) -> dict[str, str]:
    plait.workflow_runs.tasks.stop(task_id, app_id=app.id, user=body.user)
    return {"result": "success"}
