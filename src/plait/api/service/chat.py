"""Chat apps: send a message (blocking or streaming)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from plait.api import sse
from plait.api.deps import PlaitDep
from plait.api.replies import json_reply
from plait.api.service.auth import KeyApp
from plait.app.bootstrap import Plait
from plait.app.chat_runs import PreparedTurn
from plait.errors import InvalidInput
from plait.events import RunEvent, WorkflowFinished
from plait.storage.db.tables import App

router = APIRouter(tags=["service: chat"])


class ChatBody(BaseModel):
    query: str = Field(max_length=100_000)
    inputs: dict[str, Any]
    user: str = Field(min_length=1, max_length=255)
    response_mode: Literal["blocking", "streaming"] | None = None
    conversation_id: str | None = None
    files: list[dict[str, Any]] | None = None
    auto_generate_name: bool = True


def _reply_metadata(turn: PreparedTurn) -> dict[str, Any]:
    metadata: dict[str, Any] = {"usage": turn.usage, "retriever_resources": turn.retriever_resources}
    if turn.annotation is not None:
        metadata["annotation_reply"] = turn.annotation.reply
    return metadata


def _metadata(turn: PreparedTurn) -> dict[str, Any]:
    return {"metadata": _reply_metadata(turn), "files": None}


# What Dify streams when an annotation answers: the answer and the end, no workflow events.
ANNOTATION_EVENTS = ("message", "message_end")


async def respond(turn: PreparedTurn, app: App, plait: Plait, *, streaming: bool, mode: str) -> Response:
    """Run a chat-family turn under the app's concurrency gate and answer as Dify does: a
    stream of events, or one ``message`` reply (completion replies have no conversation)."""
    slot = plait.active_requests.acquire(app)
    events = slot.around(plait.chat_runs.execute(turn))
    if streaming:

        def encode(event: RunEvent) -> list[dict[str, Any]]:
            payloads = sse.chat_event(
                event,
                task_id=turn.task_id,
                run_id=turn.run_id,
                workflow_id=turn.version.id,
                message_id=turn.message_id,
                conversation_id=turn.conversation_id,
                created_at=turn.created_at,
                message_end=lambda: _metadata(turn),
                mode=mode,
            )
            if turn.annotation is not None:
                return [payload for payload in payloads if payload["event"] in ANNOTATION_EVENTS]
            if isinstance(event, WorkflowFinished) and turn.error is not None:
                # A failed turn ends with Dify's error event instead of message_end.
                error = turn.error
                failed = [payload for payload in payloads if payload["event"] != "message_end"]
                return [*failed, sse.error_event(error, task_id=turn.task_id, message_id=turn.message_id)]
            return payloads

        return StreamingResponse(sse.stream(events, encode), media_type="text/event-stream", headers=sse.HEADERS)
    async for _event in events:
        pass
    if turn.error is not None:
        raise turn.error
    reply: dict[str, Any] = {
        "event": "message",
        "task_id": turn.task_id,
        "id": turn.message_id,
        "message_id": turn.message_id,
        "conversation_id": turn.conversation_id,
        "mode": mode,
        "answer": turn.answer,
        "metadata": _reply_metadata(turn),
        "created_at": turn.created_at,
    }
    if mode == "completion":
        del reply["conversation_id"]
    return json_reply(reply)


@router.post("/chat-messages", response_model=None)
async def chat_messages(body: ChatBody, app: KeyApp, plait: PlaitDep) -> Response:
    streaming = body.response_mode == "streaming"
    if app.mode == "agent-chat" and not streaming:
        raise InvalidInput("Agent Chat App does not support blocking mode", params="response_mode")
    turn = await plait.chat_runs.prepare(
        app,
        user=body.user,
        query=body.query,
        inputs=body.inputs,
        conversation_id=body.conversation_id or None,
        files=body.files,
        auto_generate_name=body.auto_generate_name,
    )
    return await respond(turn, app, plait, streaming=streaming, mode=app.mode)


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
async def completion_messages(body: CompletionBody, app: KeyApp, plait: PlaitDep) -> Response:
    turn = await plait.chat_runs.prepare(
        app,
        user=body.user,
        query=body.query,
        inputs=body.inputs,
        conversation_id=None,
        completion=True,
        files=body.files,
    )
    return await respond(turn, app, plait, streaming=body.response_mode == "streaming", mode="completion")


@router.post("/completion-messages/{task_id}/stop")
async def stop_completion(task_id: str, body: StopBody, app: KeyApp, plait: PlaitDep) -> dict[str, str]:
    plait.workflow_runs.tasks.stop(task_id, app_id=app.id, user=body.user)
    return {"result": "success"}
