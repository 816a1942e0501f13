"""Reconnecting to a run while it runs (``GET /v1/workflow/{run_id}/events``): the
follower gets every event so far, then the live ones, in order, to the end; only the
run's starter may follow it; a finished run answers with its one ``workflow_finished``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.storage.broker import MemoryRunBroker

from .test_service_workflows import assert_envelope, publish

SLOW_APP: dict[str, Any] = {
    "version": "0.3.0",
    "kind": "app",
    "app": {"name": "Slow", "mode": "workflow"},
    "workflow": {
        "graph": {
            "nodes": [
                {"id": "start", "data": {"type": "start", "title": "Start", "variables": []}},
                {
                    "id": "wait",
                    "data": {
                        "type": "code",
                        "title": "Wait",
                        "code_language": "python3",
                        "code": "import time\n\ndef main():\n    time.sleep(1.5)\n    return {'done': 'yes'}\n",
                        "variables": [],
                        "outputs": {"done": {"type": "string", "children": None}},
                    },
                },
                {
                    "id": "end",
                    "data": {
                        "type": "end",
                        "title": "End",
                        "outputs": [{"variable": "done", "value_selector": ["wait", "done"]}],
                    },
                },
            ],
            "edges": [{"source": "start", "target": "wait"}, {"source": "wait", "target": "end"}],
        }
    },
}


def events_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(frame[6:]) for frame in text.split("\n\n") if frame.startswith("data: ")]


async def test_a_running_run_can_be_followed_from_another_request(plait: Plait, client: httpx.AsyncClient) -> None:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, SLOW_APP, setup.workspace_id)
    broker = plait.workflow_runs.broker
    assert isinstance(broker, MemoryRunBroker)
    body = {"inputs": {}, "user": "u1", "response_mode": "streaming"}
    original = asyncio.create_task(client.post("/v1/workflows/run", headers=app.auth, json=body))
    for _ in range(200):
        if broker.running():
            break
        await asyncio.sleep(0.01)
    [run_id] = broker.running()
    url = f"/v1/workflow/{run_id}/events"
    assert_envelope(await client.get(url, headers=app.auth, params={"user": "u2"}), 404, "not_found")
    followed = await client.get(url, headers=app.auth, params={"user": "u1"})
    first = await original
    assert followed.status_code == 200
    seen = [event["event"] for event in events_of(followed.text)]
    assert seen == [event["event"] for event in events_of(first.text)]
    assert seen[0] == "workflow_started"
    assert seen.count("node_finished") == 3
    assert seen[-1] == "workflow_finished"
    assert {event["workflow_run_id"] for event in events_of(followed.text)} == {run_id}
    assert events_of(followed.text)[-1]["data"]["outputs"] == {"done": "yes"}
    assert broker.running() == []
    # Once it ended, the run answers from its record: one event.
    after = await client.get(url, headers=app.auth, params={"user": "u1"})
    assert [event["event"] for event in events_of(after.text)] == ["workflow_finished"]
