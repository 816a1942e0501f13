"""Chatflow turns through POST /v1/chat-messages: Dify's reply shapes, conversations that
keep their variables from turn to turn, scoping to the end user, and the SSE sequence."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.ids import is_uuid
from plait.storage.db.tables import Conversation, ConversationVariable, Message

from .test_service_workflows import WORKFLOW_APP, Published, assert_envelope, publish

CHATFLOW: dict[str, Any] = {
    "version": "0.6.0",
    "kind": "app",
    "app": {"name": "Counter", "mode": "advanced-chat"},
    "workflow": {
        "environment_variables": [],
        "conversation_variables": [{"name": "turns", "value": 0, "value_type": "number"}],
        "features": {"opening_statement": "Hi!"},
        "graph": {
            "nodes": [
                {"id": "start", "data": {"type": "start", "variables": []}},
                {
                    "id": "count",
                    "data": {
                        "type": "assigner",
                        "version": "2",
                        "items": [
                            {
                                "variable_selector": ["conversation", "turns"],
                                "operation": "+=",
                                "input_type": "constant",
                                "value": 1,
                            }
                        ],
                    },
                },
                {"id": "intro", "data": {"type": "answer", "answer": "Turn {{#conversation.turns#}}. "}},
                {
                    "id": "llm",
                    "data": {
                        "type": "llm",
                        "model": {"provider": "fake", "name": "fake", "mode": "chat"},
                        "prompt_template": [{"role": "user", "text": "{{#sys.query#}}"}],
                    },
                },
                {"id": "reply", "data": {"type": "answer", "answer": "{{#llm.text#}}"}},
            ],
            "edges": [
                {"source": "start", "target": "count"},
                {"source": "count", "target": "intro"},
                {"source": "intro", "target": "llm"},
                {"source": "llm", "target": "reply"},
            ],
        },
    },
}


@pytest.fixture
async def counter(plait: Plait) -> Published:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    return await publish(plait, CHATFLOW, setup.workspace_id)


async def send(client: httpx.AsyncClient, app: Published, query: str, **extra: Any) -> httpx.Response:
    body = {"query": query, "inputs": {}, "user": "alice", **extra}
    return await client.post("/v1/chat-messages", headers=app.auth, json=body)


async def test_a_blocking_turn_has_dify_shape(client: httpx.AsyncClient, counter: Published) -> None:
    response = await send(client, counter, "hi")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["event"] == "message"
    assert body["id"] == body["message_id"]
    assert is_uuid(body["conversation_id"])
    assert body["mode"] == "advanced-chat"
    assert body["answer"] == "Turn 1. Plait fake reply: hi"
    usage = body["metadata"]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert isinstance(usage["total_price"], str)
    assert usage["currency"] == "USD"
    assert isinstance(usage["latency"], float)
    assert isinstance(body["created_at"], int)


async def test_a_conversation_keeps_its_variables(client: httpx.AsyncClient, counter: Published, plait: Plait) -> None:
    first = (await send(client, counter, "hi")).json()
    second = (await send(client, counter, "again", conversation_id=first["conversation_id"])).json()
    assert second["conversation_id"] == first["conversation_id"]
    assert second["answer"] == "Turn 2. Plait fake reply: again"
    fresh = (await send(client, counter, "new", conversation_id="")).json()
    assert fresh["answer"].startswith("Turn 1.")
    async with plait.db.reader() as session:
        conversation = await session.get(Conversation, first["conversation_id"])
        messages = (
            (await session.execute(select(Message).where(Message.conversation_id == first["conversation_id"])))
            .scalars()
            .all()
        )
        variable = (
            await session.execute(
                select(ConversationVariable).where(ConversationVariable.conversation_id == first["conversation_id"])
            )
        ).scalar_one()
    assert conversation is not None
    assert conversation.dialogue_count == 2
    assert sorted(m.answer for m in messages) == ["Turn 1. Plait fake reply: hi", "Turn 2. Plait fake reply: again"]
    assert variable.value == {"value": 2}


async def test_a_conversation_belongs_to_its_user(client: httpx.AsyncClient, counter: Published) -> None:
    first = (await send(client, counter, "hi")).json()
    other = await send(client, counter, "mine?", conversation_id=first["conversation_id"], user="mallory")
    assert assert_envelope(other, 404, "not_found")["message"] == "Conversation Not Exists."


async def test_conversation_ids_must_be_uuids(client: httpx.AsyncClient, counter: Published) -> None:
    response = await send(client, counter, "hi", conversation_id="42")
    assert assert_envelope(response, 400, "invalid_param")["message"] == "conversation_id must be a valid UUID"


async def test_a_streaming_turn_speaks_dify_sse(client: httpx.AsyncClient, counter: Published) -> None:
    response = await send(client, counter, "stream me", response_mode="streaming")
    assert response.status_code == 200
    events = [json.loads(frame[len("data: ") :]) for frame in response.text.split("\n\n") if frame.startswith("data: ")]
    names = [event["event"] for event in events]
    assert names[0] == "workflow_started"
    assert names[-2:] == ["workflow_finished", "message_end"]
    messages = [event for event in events if event["event"] == "message"]
    assert "".join(event["answer"] for event in messages) == "Turn 1. Plait fake reply: stream me"
    ids = {(event["message_id"], event["conversation_id"]) for event in events}
    assert len(ids) == 1
    assert events[-1]["metadata"]["usage"]["total_tokens"] > 0


async def test_a_workflow_app_is_not_a_chat_app(client: httpx.AsyncClient, counter: Published, plait: Plait) -> None:
    workflow = await publish(plait, WORKFLOW_APP, counter.workspace_id)
    response = await client.post(
        "/v1/chat-messages", headers=workflow.auth, json={"query": "x", "inputs": {}, "user": "u"}
    )
    assert_envelope(response, 400, "not_chat_app")


async def test_query_and_user_are_required(client: httpx.AsyncClient, counter: Published) -> None:
    response = await client.post("/v1/chat-messages", headers=counter.auth, json={"inputs": {}, "user": "u"})
    assert assert_envelope(response, 400, "invalid_param")["message"] == "Arg query must be provided."
    response = await client.post("/v1/chat-messages", headers=counter.auth, json={"query": "x", "inputs": {}})
    assert assert_envelope(response, 400, "invalid_param")["message"] == "Arg user must be provided."


async def test_opening_statement_in_parameters(client: httpx.AsyncClient, counter: Published) -> None:
    assert (await client.get("/v1/parameters", headers=counter.auth)).json()["opening_statement"] == "Hi!"
