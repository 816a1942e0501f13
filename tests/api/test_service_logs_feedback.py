"""Workflow run logs (paged, filtered) and message feedback through the Service API."""

from __future__ import annotations

import httpx

from plait.app.audit import CLI
from plait.app.bootstrap import Plait

from .test_service_chat import CHATFLOW, send
from .test_service_workflows import WORKFLOW_APP, assert_envelope, publish


async def test_workflow_logs_page_and_filter(client: httpx.AsyncClient, plait: Plait) -> None:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, WORKFLOW_APP, setup.workspace_id)
    for name in ("Ada", "Grace", "Alan"):
        response = await client.post(
            "/v1/workflows/run", headers=app.auth, json={"inputs": {"name": name}, "user": "u1"}
        )
        assert response.status_code == 200
    first = (await client.get("/v1/workflows/logs", headers=app.auth, params={"limit": 2})).json()
    assert (first["page"], first["limit"], first["total"], first["has_more"]) == (1, 2, 3, True)
    item = first["data"][0]
    assert item["workflow_run"]["status"] == "succeeded"
    assert item["created_by_role"] == "end_user"
    assert item["created_by_end_user"]["session_id"] == "u1"
    second = (await client.get("/v1/workflows/logs", headers=app.auth, params={"limit": 2, "page": 2})).json()
    assert len(second["data"]) == 1
    assert second["has_more"] is False
    found = (await client.get("/v1/workflows/logs", headers=app.auth, params={"keyword": "Grace"})).json()
    assert found["total"] == 1
    failed = (await client.get("/v1/workflows/logs", headers=app.auth, params={"status": "failed"})).json()
    assert failed["total"] == 0
    assert_envelope(
        await client.get("/v1/workflows/logs", headers=app.auth, params={"status": "odd"}), 400, "invalid_param"
    )


async def test_feedback_is_given_listed_shown_and_revoked(client: httpx.AsyncClient, plait: Plait) -> None:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, CHATFLOW, setup.workspace_id)
    turn = (await send(client, app, "hi")).json()
    message = turn["message_id"]
    given = await client.post(
        f"/v1/messages/{message}/feedbacks",
        headers=app.auth,
        json={"user": "alice", "rating": "like", "content": "great"},
    )
    assert given.json() == {"result": "success"}
    listed = (await client.get("/v1/app/feedbacks", headers=app.auth)).json()["data"]
    assert [(row["message_id"], row["rating"], row["content"], row["from_source"]) for row in listed] == [
        (message, "like", "great", "user")
    ]
    history = (
        await client.get(
            "/v1/messages", headers=app.auth, params={"user": "alice", "conversation_id": turn["conversation_id"]}
        )
    ).json()
    assert history["data"][0]["feedback"] == {"rating": "like"}
    changed = await client.post(
        f"/v1/messages/{message}/feedbacks", headers=app.auth, json={"user": "alice", "rating": "dislike"}
    )
    assert changed.status_code == 200
    assert (await client.get("/v1/app/feedbacks", headers=app.auth)).json()["data"][0]["rating"] == "dislike"
    revoked = await client.post(
        f"/v1/messages/{message}/feedbacks", headers=app.auth, json={"user": "alice", "rating": None}
    )
    assert revoked.status_code == 200
    assert (await client.get("/v1/app/feedbacks", headers=app.auth)).json()["data"] == []
    stranger = await client.post(
        f"/v1/messages/{message}/feedbacks", headers=app.auth, json={"user": "bob", "rating": "like"}
    )
    assert assert_envelope(stranger, 404, "not_found")["message"] == "Message Not Exists."
