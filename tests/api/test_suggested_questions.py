"""Suggested questions after an answer (``GET /v1/messages/{id}/suggested``): the app's model,
a real OpenAI-compatible server on loopback, reads the conversation and proposes questions;
the feature switch, the end user's scoping and unusable replies answer as Dify does."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.app.suggestions import parse_questions
from plait.ids import new_id

from ..conftest import StartPlait
from ..providers.servers import Reply, ScriptedServer, openai_text_stream
from .test_agent_apps import app_document, events_of, with_model
from .test_model_providers import COMPATIBLE, console, workspace_of
from .test_service_chat import CHATFLOW, send
from .test_service_workflows import WORKFLOW_APP, Published, assert_envelope, publish

ENABLED = {"suggested_questions_after_answer": {"enabled": True}}


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    instance = ScriptedServer()
    await instance.start()
    yield instance
    await instance.close()


async def turn(http: httpx.AsyncClient, app: Published, query: str, **body: Any) -> dict[str, Any]:
    response = await http.post(
        "/v1/chat-messages",
        headers=app.auth,
        json={"query": query, "inputs": {}, "user": "u1", "auto_generate_name": False, **body},
    )
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


async def suggested(http: httpx.AsyncClient, app: Published, message_id: str, user: str = "u1") -> httpx.Response:
    return await http.get(f"/v1/messages/{message_id}/suggested", headers=app.auth, params={"user": user})


def text(*pieces: str) -> Reply:
    return Reply.sse(openai_text_stream(*pieces))


async def test_the_apps_model_suggests_from_the_conversation(start_plait: StartPlait, server: ScriptedServer) -> None:
    plait, http = await with_model(start_plait, server, tools=False)
    app = await publish(plait, app_document("chat", **ENABLED), await workspace_of(plait))
    server.reply(text("Paris is sunny."), text("About 25 degrees."))
    first = await turn(http, app, "What is the weather in Paris?")
    second = await turn(http, app, "How warm is it?", conversation_id=first["conversation_id"])

    server.reply(
        text(
            "Sure! Here are some questions:\n```json\n",
            '["Will it rain tomorrow?", "What should I wear?", "Is it windy?", "What about Lyon?"]',
            "\n```",
        )
    )
    response = await suggested(http, app, second["message_id"])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "result": "success",
        "data": ["Will it rain tomorrow?", "What should I wear?", "Is it windy?"],
    }
    sent = server.requests[-1].json()
    assert sent["model"] == "helper"  # the app's own model
    system, conversation = sent["messages"]
    assert system["role"] == "system"
    assert "JSON array" in system["content"]
    assert conversation == {
        "role": "user",
        "content": "User: What is the weather in Paris?\nAssistant: Paris is sunny.\n"
        "User: How warm is it?\nAssistant: About 25 degrees.",
    }

    # Asked about the first answer, the model reads the conversation up to it only.
    server.reply(text('["Is it warm?"]'))
    earlier = await suggested(http, app, first["message_id"])
    assert earlier.json()["data"] == ["Is it warm?"]
    assert "How warm" not in server.requests[-1].json()["messages"][1]["content"]


async def test_a_chatflow_reads_its_features_and_asks_its_llm_nodes_model(
    start_plait: StartPlait, server: ScriptedServer
) -> None:
    plait, http = await with_model(start_plait, server, tools=False)
    document = copy.deepcopy(CHATFLOW)
    document["workflow"]["features"] = ENABLED
    llm = next(node for node in document["workflow"]["graph"]["nodes"] if node["id"] == "llm")
    llm["data"]["model"] = {"provider": COMPATIBLE, "name": "helper", "mode": "chat", "completion_params": {}}
    app = await publish(plait, document, await workspace_of(plait))
    server.reply(text("Hello."))
    answered = await turn(http, app, "hi")
    server.reply(text('["How are you?", "What can you do?"]'))
    response = await suggested(http, app, answered["message_id"])
    assert response.json()["data"] == ["How are you?", "What can you do?"]
    assert server.requests[-1].json()["model"] == "helper"
    assert "Assistant: Turn 1. Hello." in server.requests[-1].json()["messages"][1]["content"]


async def test_a_reply_without_a_usable_list_suggests_nothing(start_plait: StartPlait, server: ScriptedServer) -> None:
    plait, http = await with_model(start_plait, server, tools=False)
    app = await publish(plait, app_document("chat", **ENABLED), await workspace_of(plait))
    server.reply(text("Hello."))
    answered = await turn(http, app, "hi")
    for junk in ("I would ask about the weather.", "[1, 2, 3]", '["", "  "]', '["unterminated'):
        server.reply(text(junk))
        response = await suggested(http, app, answered["message_id"])
        assert response.status_code == 200, response.text
        assert response.json() == {"result": "success", "data": []}, junk


async def test_a_failed_model_call_answers_with_its_error(start_plait: StartPlait) -> None:
    plait, http, _owner = await console(start_plait)
    document = app_document("chat", **ENABLED)
    document["model_config"]["model"]["provider"] = "anthropic"  # no credentials in this workspace
    app = await publish(plait, document, await workspace_of(plait))
    # The turn fails the same way, but its message is stored: something to ask about.
    response = await http.post(
        "/v1/chat-messages",
        headers=app.auth,
        json={"query": "hi", "inputs": {}, "user": "u1", "response_mode": "streaming", "auto_generate_name": False},
    )
    message_id = events_of(response)[-1]["message_id"]
    body = assert_envelope(await suggested(http, app, message_id), 400, "provider_not_initialize")
    assert "Anthropic" in body["message"]


@pytest.fixture
async def chatflow(plait: Plait) -> Published:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    return await publish(plait, CHATFLOW, setup.workspace_id)


async def test_disabled_foreign_and_unknown_messages(
    client: httpx.AsyncClient, chatflow: Published, plait: Plait
) -> None:
    answered = (await send(client, chatflow, "hi")).json()
    disabled = assert_envelope(await suggested(client, chatflow, answered["message_id"], "alice"), 400, "bad_request")
    assert disabled["message"] == "Suggested Questions Is Disabled."

    # Another end user's message, a message that does not exist, an id that is no id: all 404.
    for message_id, user in ((answered["message_id"], "bob"), (new_id(), "alice"), ("not-an-id", "alice")):
        missing = assert_envelope(await suggested(client, chatflow, message_id, user), 404, "not_found")
        assert missing["message"] == "Message Not Exists."
    no_user = await client.get(f"/v1/messages/{answered['message_id']}/suggested", headers=chatflow.auth)
    assert assert_envelope(no_user, 400, "invalid_param")["message"] == "Arg user must be provided."

    workflow = await publish(plait, WORKFLOW_APP, chatflow.workspace_id)
    assert_envelope(await suggested(client, workflow, answered["message_id"], "alice"), 400, "not_chat_app")


@pytest.mark.parametrize(
    ("reply", "questions"),
    [
        ('["A?", "B?", "C?"]', ["A?", "B?", "C?"]),
        ('Here: ["A?", "A?", "  B\n  two?  ", 7, "C?", "D?"] hope it helps', ["A?", "B two?", "C?"]),
        ('{"questions": ["A?"]}', ["A?"]),
        ('[see below] then ["A?"]', ["A?"]),
        ('[""] and later ["B?"]', ["B?"]),
        ('["' + "x" * 300 + '", "Short?"]', ["Short?"]),
        ("No list at all.", []),
        ("", []),
    ],
)
def test_parse_questions(reply: str, questions: list[str]) -> None:
    assert parse_questions(reply) == questions
