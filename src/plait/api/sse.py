"""Dify's SSE wire format: one ``data: {json}`` line and a blank line per event, ``event: ping``
keep-alives while nothing happens, compact JSON, no terminating sentinel.

``workflow_event`` turns a run event into Dify's payload for workflow apps. The stream is
fed by a pump task that owns the run: when the client goes away the run still finishes and
is recorded (it can be read back by its id).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog

from plait.api.replies import dumps
from plait.errors import PlaitError
from plait.events import (
    AgentLog,
    IterationCompleted,
    IterationNext,
    IterationStarted,
    LoopCompleted,
    LoopNext,
    LoopStarted,
    NodeFinished,
    NodeRetry,
    NodeStarted,
    RunEvent,
    TextChunk,
    WorkflowFinished,
    WorkflowStarted,
)

log = structlog.get_logger(__name__)

PING = b"event: ping\n\n"
PING_INTERVAL_SECONDS = 10.0
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
_background: set[asyncio.Task[None]] = set()


def frame(payload: dict[str, Any]) -> bytes:
    return b"data: " + dumps(payload) + b"\n\n"


def _node(event: NodeStarted | NodeFinished, now: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": event.execution_id,
        "node_id": event.node_id,
        "node_type": event.node_type,
        "title": event.title,
        "index": event.index,
        "predecessor_node_id": event.predecessor_node_id,
        "created_at": now,
        "extras": {},
        "iteration_id": event.iteration_id,
        "loop_id": event.loop_id,
    }
    if isinstance(event, NodeStarted):
        data["inputs"] = None
        return data
    data.update(
        inputs=event.inputs,
        process_data=event.process_data,
        outputs=event.outputs,
        status=event.status,
        error=event.error,
        elapsed_time=event.elapsed_time,
        execution_metadata=event.metadata,
        created_at=now - int(event.elapsed_time),
        finished_at=now,
        files=[],
    )
    return data


def workflow_event(
    event: RunEvent, *, task_id: str, run_id: str, workflow_id: str, created_at: int
) -> dict[str, Any] | None:
    """Dify's payload for ``event`` in a workflow app's stream (None: not part of the wire)."""
    now = int(time.time())
    envelope = {"task_id": task_id, "workflow_run_id": run_id}
    if isinstance(event, WorkflowStarted):
        data = {"id": run_id, "workflow_id": workflow_id, "inputs": event.inputs, "created_at": created_at}
        return {"event": "workflow_started", **envelope, "data": data}
    if isinstance(event, NodeStarted):
        return {"event": "node_started", **envelope, "data": _node(event, now)}
    if isinstance(event, NodeFinished):
        return {"event": "node_finished", **envelope, "data": _node(event, now)}
    if isinstance(event, NodeRetry):
        data = {
            "node_id": event.node_id,
            "node_type": event.node_type,
            "retry_index": event.retry_index,
            "error": event.error,
        }
        return {"event": "node_retry", **envelope, "data": data}
    if isinstance(event, TextChunk):
        selector = list(event.selector) if event.selector else [event.node_id]
        return {"event": "text_chunk", **envelope, "data": {"text": event.text, "from_variable_selector": selector}}
    if isinstance(event, IterationStarted | LoopStarted):
        name = "iteration_started" if isinstance(event, IterationStarted) else "loop_started"
        data = {
            "id": event.node_id,
            "node_id": event.node_id,
            "title": event.title,
            "inputs": event.inputs,
            "created_at": now,
        }
        return {"event": name, **envelope, "data": data}
    if isinstance(event, IterationNext | LoopNext):
        name = "iteration_next" if isinstance(event, IterationNext) else "loop_next"
        return {
            "event": name,
            **envelope,
            "data": {"id": event.node_id, "node_id": event.node_id, "index": event.index},
        }
    if isinstance(event, IterationCompleted | LoopCompleted):
        name = "iteration_completed" if isinstance(event, IterationCompleted) else "loop_completed"
        data = {
            "id": event.node_id,
            "node_id": event.node_id,
            "outputs": event.outputs,
            "status": event.status,
            "error": event.error,
            "steps": event.steps,
            "finished_at": now,
        }
        return {"event": name, **envelope, "data": data}
    if isinstance(event, AgentLog):
        data = {
            "node_execution_id": None,
            "id": event.id,
            "label": f"ROUND {event.position}",
            "parent_id": None,
            "error": None,
            "status": event.status,
            "data": {
                "thought": event.thought,
                "tool": event.tool,
                "tool_input": event.tool_input,
                "observation": event.observation,
            },
            "metadata": {},
            "node_id": event.node_id,
        }
        return {"event": "agent_log", **envelope, "data": data}
    if isinstance(event, WorkflowFinished):
        return {"event": "workflow_finished", **envelope, "data": finished_data(event, workflow_id, created_at, now)}
    return None


def chat_event(
    event: RunEvent,
    *,
    task_id: str,
    run_id: str,
    workflow_id: str,
    message_id: str,
    conversation_id: str,
    created_at: int,
    message_end: Callable[[], dict[str, Any]],
    mode: str = "advanced-chat",
) -> list[dict[str, Any]]:
    """Dify's payloads for ``event`` in a chat-family stream: Answer text as ``message``
    events, ``message_end`` last, and (chatflows only) the workflow's events with the chat
    envelope. Completion apps have no conversation in their envelope."""
    chat: dict[str, Any] = {"conversation_id": conversation_id, "message_id": message_id, "created_at": created_at}
    if mode == "completion":
        del chat["conversation_id"]
    if isinstance(event, TextChunk):
        name = "agent_message" if mode == "agent-chat" else "message"
        return [{"event": name, "task_id": task_id, "id": message_id, "answer": event.text, **chat}]
    if mode == "agent-chat" and isinstance(event, AgentLog):
        return [{"event": "agent_thought", "task_id": task_id, **agent_thought(event, message_id), **chat}]
    if mode != "advanced-chat":
        if isinstance(event, WorkflowFinished):
            return [{"event": "message_end", "task_id": task_id, "id": message_id, **chat, **message_end()}]
        return []
    payload = workflow_event(event, task_id=task_id, run_id=run_id, workflow_id=workflow_id, created_at=created_at)
    if payload is None:
        return []
    payloads = [{**payload, **chat}]
    if isinstance(event, WorkflowFinished):
        payloads.append({"event": "message_end", "task_id": task_id, "id": message_id, **chat, **message_end()})
    return payloads


def agent_thought(event: AgentLog, message_id: str) -> dict[str, Any]:
    """One round of an agent app, as Dify's ``agent_thought`` (in streams and in history)."""
    return {
        "id": event.id,
        "message_id": message_id,
        "position": event.position,
        "thought": event.thought,
        "observation": event.observation,
        "tool": event.tool,
        "tool_labels": {name: {"en_US": name} for name in event.tool.split(";") if name},
        "tool_input": event.tool_input,
        "message_files": [],
        "created_at": int(time.time()),
    }


def error_event(error: PlaitError, *, task_id: str, message_id: str | None = None) -> dict[str, Any]:
    """Dify's terminal ``error`` event."""
    payload: dict[str, Any] = {"event": "error", "task_id": task_id, "status": error.status, "code": error.code}
    if message_id is not None:
        payload["message_id"] = message_id
    payload["message"] = error.message
    return payload


def finished_data(event: WorkflowFinished, workflow_id: str, created_at: int, now: int) -> dict[str, Any]:
    return {
        "id": event.run_id,
        "workflow_id": workflow_id,
        "status": event.status,
        "outputs": event.outputs,
        "error": event.error,
        "elapsed_time": event.elapsed_time,
        "total_tokens": event.total_tokens,
        "total_steps": event.total_steps,
        "exceptions_count": event.exceptions_count,
        "created_at": created_at,
        "finished_at": now,
        "files": [],
    }


def stream(events: AsyncIterator[RunEvent], encode: Callable[[RunEvent], list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    """SSE frames for ``events``, with pings while idle. The run is driven by its own task,
    so a client that disconnects does not cut it short."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for event in events:
                for payload in encode(event):
                    queue.put_nowait(frame(payload))
        except PlaitError as error:
            queue.put_nowait(
                frame({"event": "error", "status": error.status, "code": error.code, "message": error.message})
            )
        except Exception:
            log.exception("sse.run_failed")
            message = "Internal Server Error, please contact support."
            queue.put_nowait(
                frame({"event": "error", "status": 500, "code": "internal_server_error", "message": message})
            )
        finally:
            queue.put_nowait(None)

    task = asyncio.ensure_future(pump())
    _background.add(task)
    task.add_done_callback(_background.discard)

    async def frames() -> AsyncIterator[bytes]:
        while True:
            ready: list[bytes] = []
            if queue.empty():
                try:
                    # asyncio.timeout, not wait_for: wait_for wraps every get in a task of its own.
                    async with asyncio.timeout(PING_INTERVAL_SECONDS):
                        item = await queue.get()
                except TimeoutError:
                    yield PING
                    continue
                if item is None:
                    return
                ready.append(item)
            # Every frame ready by now goes out as one chunk: one write to the socket instead
            # of one per event (a short run's events are all ready at once).
            while not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    if ready:
                        yield b"".join(ready)
                    return
                ready.append(item)
            yield b"".join(ready)

    return frames()
