"""Stopping runs through the Service API, and the small read endpoints: conversation
variables and end users."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from plait.app.audit import CLI
from plait.app.bootstrap import Plait

from .test_service_chat import CHATFLOW, send
from .test_service_workflows import assert_envelope, publish

SLOW_WORKFLOW: dict[str, Any] = {
    "version": "0.6.0",
    "kind": "app",
    "app": {"name": "Slow", "mode": "workflow"},
    "workflow": {
        "graph": {
            "nodes": [
                {"id": "start", "data": {"type": "start", "variables": []}},
                {
                    "id": "nap",
                    "data": {
                        "type": "code",
                        "code_language": "python3",
                        "code": "import time\ndef main():\n    time.sleep(5)\n    return {'done': 'yes'}\n",
                        "variables": [],
                        "outputs": {"done": {"type": "string"}},
                    },
                },
                {
                    "id": "end",
                    "data": {"type": "end", "outputs": [{"variable": "done", "value_selector": ["nap", "done"]}]},
                },
            ],
            "edges": [{"source": "start", "target": "nap"}, {"source": "nap", "target": "end"}],
        }
    },
}


async def running_task(plait: Plait) -> str:
    deadline = time.monotonic() + 10
    while not plait.workflow_runs.tasks.ids():
        assert time.monotonic() < deadline, "the run never started"
        await asyncio.sleep(0.02)
    return plait.workflow_runs.tasks.ids()[0]


async def test_a_streaming_run_can_be_stopped(client: httpx.AsyncClient, plait: Plait) -> None:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, SLOW_WORKFLOW, setup.workspace_id)
    body = {"inputs": {}, "user": "alice", "response_mode": "streaming"}
    began = time.monotonic()
    request = asyncio.ensure_future(client.post("/v1/workflows/run", headers=app.auth, json=body))
    task_id = await running_task(plait)
    stop = await client.post(f"/v1/workflows/tasks/{task_id}/stop", headers=app.auth, json={"user": "anyone"})
    assert stop.json() == {"result": "success"}
    response = await request
    assert time.monotonic() - began < 4.5  # not the 5 s the node would take
    events = [json.loads(frame[6:]) for frame in response.text.split("\n\n") if frame.startswith("data: ")]
    assert events[-1]["event"] == "workflow_finished"
    assert events[-1]["data"]["status"] == "stopped"
    assert events[-1]["task_id"] == task_id


async def test_stopping_an_unknown_task_is_not_an_error(client: httpx.AsyncClient, plait: Plait) -> None:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, SLOW_WORKFLOW, setup.workspace_id)
    response = await client.post("/v1/workflows/tasks/no-such-task/stop", headers=app.auth, json={"user": "u"})
    assert response.json() == {"result": "success"}
    assert_envelope(await client.post("/v1/workflows/tasks/x/stop", headers=app.auth, json={}), 400, "invalid_param")


async def test_conversation_variables_and_end_users(client: httpx.AsyncClient, plait: Plait) -> None:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, CHATFLOW, setup.workspace_id)
    turn = (await send(client, app, "hi")).json()
    conversation = turn["conversation_id"]
    variables = (
        await client.get(f"/v1/conversations/{conversation}/variables", headers=app.auth, params={"user": "alice"})
    ).json()
    assert [(item["name"], item["value"], item["value_type"]) for item in variables["data"]] == [("turns", 1, "number")]
    other = await client.get(f"/v1/conversations/{conversation}/variables", headers=app.auth, params={"user": "bob"})
    assert_envelope(other, 404, "not_found")
    user = await plait.workflow_runs.end_user(await plait.apps.get(setup.workspace_id, app.app_id), "alice")
    found = (await client.get(f"/v1/end-users/{user.id}", headers=app.auth)).json()
    assert found["session_id"] == "alice"
    assert found["type"] == "service-api"
    assert found["is_anonymous"] is False
    assert "T" in found["created_at"]  # ISO-8601
    assert_envelope(await client.get("/v1/end-users/nobody", headers=app.auth), 404, "end_user_not_found")
