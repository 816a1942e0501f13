"""The per-app concurrency gate: past ``max_active_requests`` new generations get 429, and a
slot is held until its run ends or is stopped."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import update

from plait.app.active_requests import ActiveRequests
from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.storage.db.tables import App

from .test_service_stop import SLOW_WORKFLOW, running_task
from .test_service_workflows import WORKFLOW_APP, assert_envelope, publish


async def test_the_gate_refuses_past_the_limit_until_a_slot_frees(client: httpx.AsyncClient, plait: Plait) -> None:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, SLOW_WORKFLOW, setup.workspace_id)
    async with plait.db.transaction() as session:
        await session.execute(update(App).where(App.id == app.app_id).values(max_active_requests=1))
    body = {"inputs": {}, "user": "u", "response_mode": "streaming"}
    first = asyncio.ensure_future(client.post("/v1/workflows/run", headers=app.auth, json=body))
    task_id = await running_task(plait)
    refused = await client.post("/v1/workflows/run", headers=app.auth, json=body)
    message = assert_envelope(refused, 429, "too_many_requests")["message"]
    assert "maximum concurrent requests allowed for Slow is 1" in message
    await client.post(f"/v1/workflows/tasks/{task_id}/stop", headers=app.auth, json={"user": "u"})
    await first
    assert plait.active_requests.active(app.app_id) == 0


async def test_unlimited_apps_are_not_gated(client: httpx.AsyncClient, plait: Plait) -> None:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, WORKFLOW_APP, setup.workspace_id)
    replies = await asyncio.gather(
        *(
            client.post("/v1/workflows/run", headers=app.auth, json={"inputs": {"name": f"n{i}"}, "user": "u"})
            for i in range(8)
        )
    )
    assert {reply.status_code for reply in replies} == {200}
    assert plait.active_requests.active(app.app_id) == 0


def test_limits_are_capped_by_the_server_maximum() -> None:
    app = App(id="a", name="x", max_active_requests=0)
    assert ActiveRequests().limit_for(app) == 0
    assert ActiveRequests(default_limit=3).limit_for(app) == 3
    assert ActiveRequests(default_limit=3, max_limit=2).limit_for(app) == 2
    app.max_active_requests = 10
    assert ActiveRequests(max_limit=4).limit_for(app) == 4
    assert ActiveRequests(default_limit=3).limit_for(app) == 10
