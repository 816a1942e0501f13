"""The console's logs: chat and completion conversations with their summaries and filters, a
conversation's messages with feedback and annotations, the workflow app log, and workflow
runs with their node executions; and who may read them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from plait.app.bootstrap import Plait
from plait.ids import new_id
from plait.storage.db.tables import Account, Membership

from .test_service_chat import CHATFLOW
from .test_service_simple_apps import COMPLETION_APP
from .test_service_workflows import WORKFLOW_APP, Published, assert_envelope, publish


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _workspace(client: httpx.AsyncClient, token: str) -> str:
    workspace_id: str = (await client.get("/console/api/workspaces/current", headers=auth(token))).json()["id"]
    return workspace_id


async def chat(client: httpx.AsyncClient, app: Published, query: str, user: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/chat-messages", headers=app.auth, json={"query": query, "inputs": {}, "user": user, **extra}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def chatflow(client: httpx.AsyncClient, plait: Plait, owner_token: str) -> tuple[Published, dict[str, Any]]:
    """A chatflow with alice's two-turn conversation (first answer liked, second annotated)
    and bob's one-turn conversation."""
    app = await publish(plait, CHATFLOW, await _workspace(client, owner_token))
    first = await chat(client, app, "hello there", "alice")
    second = await chat(client, app, "second question", "alice", conversation_id=first["conversation_id"])
    other = await chat(client, app, "bob asks", "bob")
    await client.post(
        f"/v1/messages/{first['message_id']}/feedbacks", headers=app.auth, json={"user": "alice", "rating": "like"}
    )
    annotated = await client.post(
        f"/console/api/apps/{app.app_id}/annotations",
        headers=auth(owner_token),
        json={"message_id": second["message_id"], "answer": "A better answer."},
    )
    assert annotated.status_code == 201, annotated.text
    await plait.recorder.flush()
    return app, {"first": first, "second": second, "other": other, "annotation": annotated.json()}


async def test_chat_conversations_summarise_and_filter(
    client: httpx.AsyncClient, owner_token: str, chatflow: tuple[Published, dict[str, Any]]
) -> None:
    app, turns = chatflow
    url = f"/console/api/apps/{app.app_id}/chat-conversations"
    listed = (await client.get(url, headers=auth(owner_token))).json()
    assert (listed["page"], listed["limit"], listed["total"], listed["has_more"]) == (1, 20, 2, False)
    by_user = {item["from_end_user_session_id"]: item for item in listed["data"]}
    alice = by_user["alice"]
    assert alice["id"] == turns["first"]["conversation_id"]
    assert alice["message_count"] == 2
    assert alice["summary"] == "hello there"
    assert alice["user_feedback_stats"] == {"like": 1, "dislike": 0}
    assert alice["admin_feedback_stats"] == {"like": 0, "dislike": 0}
    assert alice["annotated"] is True
    assert alice["status_count"] == {"success": 2, "failed": 0, "partial_success": 0}
    assert alice["from_source"] == "api"
    assert isinstance(alice["created_at"], int)
    assert by_user["bob"]["annotated"] is False

    async def ids(**params: Any) -> list[str]:
        response = await client.get(url, headers=auth(owner_token), params=params)
        assert response.status_code == 200, response.text
        return [item["from_end_user_session_id"] for item in response.json()["data"]]

    assert await ids(keyword="second QUESTION") == ["alice"]  # the messages' words
    assert await ids(keyword="bob") == ["bob"]  # the end user
    assert await ids(annotation_status="annotated") == ["alice"]
    assert await ids(annotation_status="not_annotated") == ["bob"]
    assert await ids(message_count_gte=2) == ["alice"]
    assert await ids(sort_by="created_at") == ["alice", "bob"]
    assert await ids(start="2999-01-01 00:00") == []
    assert sorted(await ids(start="2000-01-01 00:00", end="2999-12-31 23:59")) == ["alice", "bob"]
    assert await ids(limit=1, page=2) in (["alice"], ["bob"])
    for params in ({"start": "yesterday"}, {"annotation_status": "some"}, {"sort_by": "name"}, {"limit": 0}):
        assert_envelope(await client.get(url, headers=auth(owner_token), params=params), 400, "invalid_param")


async def test_chat_messages_carry_feedback_and_annotations(
    client: httpx.AsyncClient, owner_token: str, chatflow: tuple[Published, dict[str, Any]]
) -> None:
    app, turns = chatflow
    url = f"/console/api/apps/{app.app_id}/chat-messages"
    conversation_id = turns["first"]["conversation_id"]
    page = (await client.get(url, headers=auth(owner_token), params={"conversation_id": conversation_id})).json()
    assert page["has_more"] is False
    first, second = page["data"]
    assert (first["id"], second["id"]) == (turns["first"]["message_id"], turns["second"]["message_id"])
    assert first["feedbacks"] == [
        {
            "rating": "like",
            "content": None,
            "from_source": "user",
            "from_end_user_id": first["from_end_user_id"],
            "from_account": None,
        }
    ]
    assert first["feedback"] == {"rating": "like"}
    assert first["annotation"] is None
    assert second["annotation"]["content"] == "A better answer."
    assert second["annotation"]["question"] == "second question"
    assert second["annotation"]["account"]["email"] == "owner@example.com"
    assert second["annotation_hit_history"] is None
    assert first["message_tokens"] > 0
    assert first["answer_tokens"] > 0
    assert first["workflow_run_id"] is not None
    assert first["metadata"]["usage"]["total_tokens"] == first["total_tokens"]
    for key in ("query", "answer", "inputs", "status", "error", "message_files", "agent_thoughts", "created_at"):
        assert key in first
    older = (
        await client.get(
            url,
            headers=auth(owner_token),
            params={"conversation_id": conversation_id, "first_id": second["id"], "limit": 1},
        )
    ).json()
    assert [item["id"] for item in older["data"]] == [first["id"]]
    latest = (
        await client.get(url, headers=auth(owner_token), params={"conversation_id": conversation_id, "limit": 1})
    ).json()
    assert ([item["id"] for item in latest["data"]], latest["has_more"]) == ([second["id"]], True)
    missing = await client.get(url, headers=auth(owner_token), params={"conversation_id": new_id()})
    assert assert_envelope(missing, 404, "not_found")["message"] == "Conversation Not Exists."


async def test_completion_conversations(client: httpx.AsyncClient, plait: Plait, owner_token: str) -> None:
    app = await publish(plait, COMPLETION_APP, await _workspace(client, owner_token))
    reply = await client.post(
        "/v1/completion-messages", headers=app.auth, json={"inputs": {"text": "cheese"}, "user": "carol"}
    )
    assert reply.status_code == 200, reply.text
    url = f"/console/api/apps/{app.app_id}/completion-conversations"
    listed = (await client.get(url, headers=auth(owner_token))).json()
    assert listed["total"] == 1
    item = listed["data"][0]
    assert item["from_end_user_session_id"] == "carol"
    assert item["message"]["id"] == reply.json()["message_id"]
    assert item["message"]["inputs"] == {"text": "cheese"}
    assert item["annotation"] is None
    assert item["model_config"]["model"]["name"] == "gpt-4o-mini"
    assert (await client.get(url, headers=auth(owner_token), params={"keyword": "nothing"})).json()["total"] == 0
    # A route of another mode reads as a missing app, as in Dify's console.
    wrong = await client.get(f"/console/api/apps/{app.app_id}/chat-conversations", headers=auth(owner_token))
    assert_envelope(wrong, 404, "not_found")


async def test_workflow_runs_and_node_executions(client: httpx.AsyncClient, plait: Plait, owner_token: str) -> None:
    app = await publish(plait, WORKFLOW_APP, await _workspace(client, owner_token))
    runs = []
    for name in ("Ada", "Grace"):
        response = await client.post(
            "/v1/workflows/run", headers=app.auth, json={"inputs": {"name": name}, "user": "u"}
        )
        runs.append(response.json()["workflow_run_id"])
    base = f"/console/api/apps/{app.app_id}"
    logs = (await client.get(f"{base}/workflow-app-logs", headers=auth(owner_token))).json()
    assert logs["total"] == 2
    assert logs["data"][0]["workflow_run"]["status"] == "succeeded"
    assert logs["data"][0]["created_by_end_user"]["session_id"] == "u"
    first = (await client.get(f"{base}/workflow-runs", headers=auth(owner_token), params={"limit": 1})).json()
    assert ([item["id"] for item in first["data"]], first["has_more"]) == ([runs[1]], True)
    rest = (
        await client.get(f"{base}/workflow-runs", headers=auth(owner_token), params={"limit": 1, "last_id": runs[1]})
    ).json()
    assert ([item["id"] for item in rest["data"]], rest["has_more"]) == ([runs[0]], False)
    failed = (await client.get(f"{base}/workflow-runs", headers=auth(owner_token), params={"status": "failed"})).json()
    assert failed["data"] == []
    detail = (await client.get(f"{base}/workflow-runs/{runs[0]}", headers=auth(owner_token))).json()
    assert detail["inputs"] == {"name": "Ada"}  # an object here, unlike the Service API's string
    assert detail["outputs"] == {"greeting": "Hello, Ada!"}
    assert [node["id"] for node in detail["graph"]["nodes"]] == ["start", "greet", "end"]
    assert detail["created_by_end_user"]["session_id"] == "u"
    nodes = (await client.get(f"{base}/workflow-runs/{runs[0]}/node-executions", headers=auth(owner_token))).json()[
        "data"
    ]
    assert [(node["node_id"], node["index"], node["status"]) for node in nodes] == [
        ("start", 1, "succeeded"),
        ("greet", 2, "succeeded"),
        ("end", 3, "succeeded"),
    ]
    greet = nodes[1]
    assert greet["predecessor_node_id"] == "start"
    assert greet["outputs"] == {"output": "Hello, Ada!"}
    assert isinstance(greet["created_at"], int)
    assert isinstance(greet["finished_at"], int)
    assert isinstance(greet["elapsed_time"], float)
    for key in ("inputs", "process_data", "error", "execution_metadata", "title", "node_type"):
        assert key in greet
    assert_envelope(await client.get(f"{base}/workflow-runs/{new_id()}", headers=auth(owner_token)), 404, "not_found")
    bad_cursor = await client.get(f"{base}/workflow-runs", headers=auth(owner_token), params={"last_id": new_id()})
    assert_envelope(bad_cursor, 404, "not_found")


async def test_only_editors_read_logs(
    client: httpx.AsyncClient, owner_token: str, plait: Plait, chatflow: tuple[Published, dict[str, Any]]
) -> None:
    app, _ = chatflow
    async with plait.db.transaction() as session:
        reader = Account(
            email="reader@example.com", name="Reader", password_hash=PasswordHasher().hash("reader-passw0rd")
        )
        session.add(reader)
        await session.flush()
        session.add(Membership(workspace_id=app.workspace_id, account_id=reader.id, role="normal"))
    login = await client.post("/console/api/login", json={"email": "reader@example.com", "password": "reader-passw0rd"})
    token = login.json()["data"]["access_token"]
    for path in ("chat-conversations", "workflow-runs", "annotations/count"):
        response = await client.get(f"/console/api/apps/{app.app_id}/{path}", headers=auth(token))
        expected = 200 if path.startswith("annotations") else 403  # reading annotations is open to members
        assert response.status_code == expected, (path, response.text)
    refused = await client.post(
        f"/console/api/apps/{app.app_id}/annotations", headers=auth(token), json={"question": "q", "answer": "a"}
    )
    assert_envelope(refused, 403, "forbidden")
