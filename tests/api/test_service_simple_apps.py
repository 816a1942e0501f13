"""Prompt-based apps (``model_config``): chat apps over /chat-messages and completion apps
over /completion-messages, with Dify's reply shapes and their message-only streams."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from plait.app.audit import CLI
from plait.app.bootstrap import Plait

from .test_service_workflows import Published, assert_envelope, publish

MODEL = {"provider": "openai", "name": "gpt-4o-mini", "mode": "chat", "completion_params": {"temperature": 0.2}}
CHAT_APP: dict[str, Any] = {
    "version": "0.1.5",
    "kind": "app",
    "app": {"name": "Helper", "mode": "chat"},
    "model_config": {
        "model": MODEL,
        "pre_prompt": "You help {{name}}.",
        "user_input_form": [{"text-input": {"variable": "name", "label": "Name", "required": True}}],
        "opening_statement": "How can I help?",
    },
}
COMPLETION_APP: dict[str, Any] = {
    "version": "0.1.5",
    "kind": "app",
    "app": {"name": "Translator", "mode": "completion"},
    "model_config": {
        "model": MODEL,
        "pre_prompt": "Translate {{text}} to French.",
        "user_input_form": [{"paragraph": {"variable": "text", "label": "Text", "required": True}}],
    },
}


@pytest.fixture
async def apps(plait: Plait) -> tuple[Published, Published]:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    return await publish(plait, CHAT_APP, setup.workspace_id), await publish(plait, COMPLETION_APP, setup.workspace_id)


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(frame[6:]) for frame in response.text.split("\n\n") if frame.startswith("data: ")]


async def test_a_chat_app_answers_and_keeps_its_conversation(
    client: httpx.AsyncClient, apps: tuple[Published, Published]
) -> None:
    chat, _ = apps
    body = {"query": "hello", "inputs": {"name": "Ada"}, "user": "u"}
    first = (await client.post("/v1/chat-messages", headers=chat.auth, json=body)).json()
    assert first["mode"] == "chat"
    assert first["answer"] == "Plait fake reply: hello"
    again = {**body, "query": "more", "conversation_id": first["conversation_id"]}
    second = (await client.post("/v1/chat-messages", headers=chat.auth, json=again)).json()
    assert second["conversation_id"] == first["conversation_id"]
    assert second["answer"] == "Plait fake reply: more"


async def test_a_chat_stream_holds_only_messages(client: httpx.AsyncClient, apps: tuple[Published, Published]) -> None:
    chat, _ = apps
    body = {"query": "hi there", "inputs": {"name": "Ada"}, "user": "u", "response_mode": "streaming"}
    events = events_of(await client.post("/v1/chat-messages", headers=chat.auth, json=body))
    assert {event["event"] for event in events[:-1]} == {"message"}
    assert events[-1]["event"] == "message_end"
    assert "".join(event["answer"] for event in events[:-1]) == "Plait fake reply: hi there"


async def test_form_inputs_are_required(client: httpx.AsyncClient, apps: tuple[Published, Published]) -> None:
    chat, _ = apps
    response = await client.post("/v1/chat-messages", headers=chat.auth, json={"query": "x", "inputs": {}, "user": "u"})
    assert "name is required" in assert_envelope(response, 400, "invalid_param")["message"]


async def test_a_completion(client: httpx.AsyncClient, apps: tuple[Published, Published]) -> None:
    _, completion = apps
    body = {"inputs": {"text": "bonjour"}, "user": "u"}
    reply = (await client.post("/v1/completion-messages", headers=completion.auth, json=body)).json()
    assert reply["mode"] == "completion"
    assert reply["answer"] == "Plait fake reply: Translate bonjour to French."
    assert "conversation_id" not in reply
    streamed = events_of(
        await client.post(
            "/v1/completion-messages", headers=completion.auth, json={**body, "response_mode": "streaming"}
        )
    )
    assert streamed[-1]["event"] == "message_end"
    assert all("conversation_id" not in event for event in streamed)
    assert "".join(e["answer"] for e in streamed if e["event"] == "message") == reply["answer"]


async def test_routes_and_modes_must_match(client: httpx.AsyncClient, apps: tuple[Published, Published]) -> None:
    chat, completion = apps
    wrong_chat = await client.post(
        "/v1/chat-messages", headers=completion.auth, json={"query": "x", "inputs": {}, "user": "u"}
    )
    assert_envelope(wrong_chat, 400, "not_chat_app")
    wrong_completion = await client.post("/v1/completion-messages", headers=chat.auth, json={"inputs": {}, "user": "u"})
    assert_envelope(wrong_completion, 400, "app_unavailable")


async def test_parameters_of_a_chat_app(client: httpx.AsyncClient, apps: tuple[Published, Published]) -> None:
    chat, _ = apps
    parameters = (await client.get("/v1/parameters", headers=chat.auth)).json()
    assert parameters["opening_statement"] == "How can I help?"
    assert parameters["user_input_form"] == [{"text-input": {"variable": "name", "label": "Name", "required": True}}]
