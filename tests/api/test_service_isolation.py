"""Tenant isolation on the Service API: with one workspace's app key, nothing of another
workspace's app can be read, continued, rated or stopped; every such id reads as missing."""

from __future__ import annotations

import httpx
import pytest

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.storage.db.tables import Workspace

from .test_service_chat import CHATFLOW, send
from .test_service_workflows import WORKFLOW_APP, Published, publish


@pytest.fixture
async def two_tenants(plait: Plait, client: httpx.AsyncClient) -> tuple[Published, Published, dict[str, str]]:
    """Workspace A's chatflow, and workspace B's chatflow with a conversation, message and run."""
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    async with plait.db.transaction() as session:
        other = Workspace(name="Other tenant")
        session.add(other)
    mine = await publish(plait, CHATFLOW, setup.workspace_id)
    theirs = await publish(plait, CHATFLOW, other.id)
    their_workflow = await publish(plait, WORKFLOW_APP, other.id)
    turn = (await send(client, theirs, "secret question")).json()
    run = (
        await client.post(
            "/v1/workflows/run", headers=their_workflow.auth, json={"inputs": {"name": "x"}, "user": "alice"}
        )
    ).json()
    user = await plait.workflow_runs.end_user(await plait.apps.get(other.id, theirs.app_id), "alice")
    ids = {
        "conversation": turn["conversation_id"],
        "message": turn["message_id"],
        "run": run["workflow_run_id"],
        "end_user": user.id,
    }
    return mine, theirs, ids


async def test_nothing_of_another_tenant_is_reachable(
    client: httpx.AsyncClient, two_tenants: tuple[Published, Published, dict[str, str]]
) -> None:
    mine, _, ids = two_tenants
    headers = mine.auth
    probes = [
        client.get(f"/v1/workflows/run/{ids['run']}", headers=headers),
        client.get("/v1/messages", headers=headers, params={"user": "alice", "conversation_id": ids["conversation"]}),
        client.get(f"/v1/conversations/{ids['conversation']}/variables", headers=headers, params={"user": "alice"}),
        client.post(
            f"/v1/conversations/{ids['conversation']}/name", headers=headers, json={"user": "alice", "name": "x"}
        ),
        client.request("DELETE", f"/v1/conversations/{ids['conversation']}", headers=headers, json={"user": "alice"}),
        client.post(
            f"/v1/messages/{ids['message']}/feedbacks", headers=headers, json={"user": "alice", "rating": "like"}
        ),
        client.get(f"/v1/end-users/{ids['end_user']}", headers=headers),
        client.post(
            "/v1/chat-messages",
            headers=headers,
            json={"query": "continue", "inputs": {}, "user": "alice", "conversation_id": ids["conversation"]},
        ),
    ]
    for probe in probes:
        response = await probe
        assert response.status_code == 404, (response.request.url, response.text)
    listed = (await client.get("/v1/conversations", headers=headers, params={"user": "alice"})).json()
    assert listed["data"] == []
    assert (await client.get("/v1/app/feedbacks", headers=headers)).json()["data"] == []
    assert (await client.get("/v1/workflows/logs", headers=headers)).json()["total"] == 0


async def test_their_data_is_untouched(
    client: httpx.AsyncClient, two_tenants: tuple[Published, Published, dict[str, str]]
) -> None:
    mine, theirs, ids = two_tenants
    await client.post(
        f"/v1/conversations/{ids['conversation']}/name", headers=mine.auth, json={"user": "alice", "name": "pwned"}
    )
    history = (
        await client.get(
            "/v1/messages", headers=theirs.auth, params={"user": "alice", "conversation_id": ids["conversation"]}
        )
    ).json()
    assert [item["query"] for item in history["data"]] == ["secret question"]
    conversations = (await client.get("/v1/conversations", headers=theirs.auth, params={"user": "alice"})).json()
    assert [item["name"] for item in conversations["data"]] == ["secret question"]
