"""Workflow apps: run (blocking or streaming) and read a run back."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from plait.api import sse
from plait.api.deps import PlaitDep
from plait.api.replies import json_reply
from plait.api.service.auth import KeyApp
from plait.app.bootstrap import Plait
from plait.events import WorkflowFinished
from plait.storage.db.tables import App, EndUser
from plait.storage.db.tables import WorkflowRun as WorkflowRunRow

router = APIRouter(tags=["service: workflows"])


class RunBody(BaseModel):
    inputs: dict[str, Any]
    user: str = Field(min_length=1, max_length=255)
    response_mode: Literal["blocking", "streaming"] | None = None
    files: list[dict[str, Any]] | None = None


@router.post("/workflows/run", response_model=None)
async def run_workflow(body: RunBody, app: KeyApp, plait: PlaitDep) -> Response:
    return await _run(body, app, plait, None)


@router.post("/workflows/{workflow_id}/run", response_model=None)
async def run_workflow_version(workflow_id: str, body: RunBody, app: KeyApp, plait: PlaitDep) -> Response:
    """Run one published version of the app (``workflow_id`` as the version list shows it)."""
    return await _run(body, app, plait, workflow_id)


async def _run(body: RunBody, app: App, plait: Plait, version_id: str | None) -> Response:
    runs = plait.workflow_runs
    prepared = await runs.prepare(app, user=body.user, inputs=body.inputs, version_id=version_id, files=body.files)
    slot = plait.active_requests.acquire(app)
    events = slot.around(runs.execute(prepared))
    created_at = int(time.time())
    workflow_id = prepared.version.id
    if body.response_mode == "streaming":

        def encode(event: Any) -> list[dict[str, Any]]:
            payload = sse.workflow_event(
                event, task_id=prepared.task_id, run_id=prepared.run_id, workflow_id=workflow_id, created_at=created_at
            )
            return [payload] if payload is not None else []

        frames = sse.stream(events, encode)
        return StreamingResponse(frames, media_type="text/event-stream", headers=sse.HEADERS)

    finished: WorkflowFinished | None = None
    async for event in events:
        if isinstance(event, WorkflowFinished):
            finished = event
    assert finished is not None
    if prepared.stored is not None:
        await prepared.stored  # the run can be read back as soon as this reply arrives
    data = sse.finished_data(finished, workflow_id, created_at, int(time.time()))
    return json_reply({"task_id": prepared.task_id, "workflow_run_id": prepared.run_id, "data": data})


@router.get("/workflows/run/{workflow_run_id}")
async def run_detail(workflow_run_id: str, app: KeyApp, plait: PlaitDep) -> dict[str, Any]:
    row = await plait.workflow_runs.detail(app, workflow_run_id)
    return {
        "id": row.id,
        "workflow_id": row.app_version_id,
        "status": row.status,
        "inputs": json.dumps(row.inputs, ensure_ascii=False),  # a JSON string, as Dify sends it
        "outputs": row.outputs or {},
        "error": row.error,
        "total_steps": row.total_steps,
        "total_tokens": row.total_tokens,
        "created_at": int(row.created_at.timestamp()),
        "finished_at": int(row.finished_at.timestamp()) if row.finished_at else None,
        "elapsed_time": row.elapsed_time,
    }


class StopBody(BaseModel):
    user: str = Field(min_length=1, max_length=255)


@router.post("/workflows/tasks/{task_id}/stop")
async def stop_workflow(task_id: str, body: StopBody, app: KeyApp, plait: PlaitDep) -> dict[str, str]:
    # Dify does not check the user against the run's starter here.
    plait.workflow_runs.tasks.stop(task_id, app_id=app.id)
    return {"result": "success"}


def log_item(run: WorkflowRunRow, end_user: EndUser | None) -> dict[str, Any]:
    """A workflow log item, as ``/workflows/logs`` and the console's app logs show it."""
    return {
        "id": run.id,
        "workflow_run": {
            "id": run.id,
            "version": run.version,
            "status": run.status,
            "error": run.error,
            "elapsed_time": run.elapsed_time,
            "total_tokens": run.total_tokens,
            "total_steps": run.total_steps,
            "created_at": int(run.created_at.timestamp()),
            "finished_at": int(run.finished_at.timestamp()) if run.finished_at else None,
            "exceptions_count": run.exceptions_count,
            "triggered_from": run.triggered_from,
        },
        "created_from": "service-api",
        "created_by_role": run.created_by_role,
        "created_by_account": None,
        "created_by_end_user": (
            {
                "id": end_user.id,
                "type": end_user.type,
                "is_anonymous": end_user.is_anonymous,
                "session_id": end_user.session_id,
            }
            if end_user
            else None
        ),
        "created_at": int(run.created_at.timestamp()),
    }


@router.get("/workflows/logs")
async def workflow_logs(
    app: KeyApp,
    plait: PlaitDep,
    page: int = 1,
    limit: int = 20,
    status: str | None = None,
    keyword: str | None = None,
    created_at__before: datetime | None = None,
    created_at__after: datetime | None = None,
) -> dict[str, Any]:
    result = await plait.workflow_logs.page(
        app,
        page=page,
        limit=limit,
        status=status,
        keyword=keyword,
        created_before=created_at__before,
        created_after=created_at__after,
    )
    data = [log_item(run, end_user) for run, end_user in result.runs]
    return {
        "page": result.page,
        "limit": result.limit,
        "total": result.total,
        "has_more": result.has_more,
        "data": data,
    }


@router.get("/workflow/{workflow_run_id}/events", response_model=None)
async def run_events(workflow_run_id: str, app: KeyApp, plait: PlaitDep, user: str) -> StreamingResponse:
    """Reconnect to a run (only its starter may). A run going on in this process streams
    every event so far, then the live ones until it ends; a finished run replays its
    ``workflow_finished`` event and the stream closes."""
    live = plait.workflow_runs.live(app, workflow_run_id, user)
    if live is not None:
        broker = plait.workflow_runs.broker
        assert broker is not None

        def encode(event: Any) -> list[dict[str, Any]]:
            payload = sse.workflow_event(
                event,
                task_id=live.task_id,
                run_id=live.run_id,
                workflow_id=live.workflow_id,
                created_at=live.created_at,
            )
            return [payload] if payload is not None else []

        return StreamingResponse(
            sse.stream(broker.follow(live.run_id), encode), media_type="text/event-stream", headers=sse.HEADERS
        )
    row = await plait.workflow_runs.started_by(app, workflow_run_id, user)
    created_at = int(row.created_at.timestamp())
    finished = WorkflowFinished(
        row.id,
        row.status,  # type: ignore[arg-type]
        row.outputs or {},
        row.error,
        row.total_steps,
        row.exceptions_count,
        row.elapsed_time,
        row.total_tokens,
    )
    data = sse.finished_data(
        finished,
        row.app_version_id or "",
        created_at,
        int(row.finished_at.timestamp()) if row.finished_at else created_at,
    )
    payload = {"event": "workflow_finished", "task_id": row.id, "workflow_run_id": row.id, "data": data}

    async def frames() -> AsyncIterator[bytes]:
        yield sse.frame(payload)

    return StreamingResponse(frames(), media_type="text/event-stream", headers=sse.HEADERS)
