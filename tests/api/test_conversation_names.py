"""Conversation names written by the app's model, a real OpenAI-compatible server on loopback:
on a rename with ``auto_generate``, and in the background after a first turn with
``auto_generate_name``; a model that fails or answers no title leaves the cut query."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from plait.app.bootstrap import Plait
from plait.app.conversation_names import INSTRUCTION, NAME_LENGTH, parse_title
from plait.storage.db.tables import App

from ..conftest import StartPlait
from ..providers.servers import Reply, ScriptedServer, openai_error, openai_text_stream
from .test_agent_apps import app_document, events_of, with_model
from .test_model_providers import workspace_of
from .test_service_workflows import Published, publish

LONG_QUERY = "Could you tell me what the weather will be like in Paris over the weekend?"


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    instance = ScriptedServer()
    await instance.start()
    yield instance
    await instance.close()


@pytest.fixture
async def chat(start_plait: StartPlait, server: ScriptedServer) -> tuple[Plait, httpx.AsyncClient, Published]:
    plait, http = await with_model(start_plait, server, tools=False)
    app = await publish(plait, app_document("chat"), await workspace_of(plait))
    return plait, http, app


def text(*pieces: str, delay: float = 0.0) -> Reply:
    reply = Reply.sse(openai_text_stream(*pieces))
    return Reply(events=reply.events, delay=delay)


async def turn(http: httpx.AsyncClient, app: Published, query: str, **body: Any) -> dict[str, Any]:
    response = await http.post(
        "/v1/chat-messages", headers=app.auth, json={"query": query, "inputs": {}, "user": "u1", **body}
    )
    assert response.status_code == 200, response.text
    if body.get("response_mode") == "streaming":
        return events_of(response)[-1]
    reply: dict[str, Any] = response.json()
    return reply


async def names(http: httpx.AsyncClient, app: Published) -> dict[str, str]:
    listed = await http.get("/v1/conversations", headers=app.auth, params={"user": "u1"})
    return {item["id"]: item["name"] for item in listed.json()["data"]}


async def rename(http: httpx.AsyncClient, app: Published, conversation_id: str) -> httpx.Response:
    return await http.post(
        f"/v1/conversations/{conversation_id}/name", headers=app.auth, json={"user": "u1", "auto_generate": True}
    )


async def test_auto_generate_asks_the_apps_model_for_a_title(
    chat: tuple[Plait, httpx.AsyncClient, Published], server: ScriptedServer
) -> None:
    _plait, http, app = chat
    server.reply(text("It will be sunny."))
    first = await turn(http, app, LONG_QUERY, auto_generate_name=False)
    server.reply(text("Sure! ```json\n", '{"title": "\\"Paris weekend weather\\""}', "\n```"))
    renamed = await rename(http, app, first["conversation_id"])
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Paris weekend weather"
    sent = server.requests[-1].json()
    assert sent["model"] == "helper"
    assert sent["messages"] == [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": LONG_QUERY}]
    assert (await names(http, app))[first["conversation_id"]] == "Paris weekend weather"


async def test_a_failing_model_or_no_title_keeps_the_cut_query(
    chat: tuple[Plait, httpx.AsyncClient, Published], server: ScriptedServer
) -> None:
    _plait, http, app = chat
    server.reply(text("It will be sunny."))
    first = await turn(http, app, LONG_QUERY, auto_generate_name=False)
    cut = LONG_QUERY[:NAME_LENGTH]
    for failure in (
        [Reply.json({"error": "down"}, 500)] * 3,  # retried, then given up
        [openai_error(401, "Incorrect API key provided", type="invalid_api_key")],
        [text("Paris weekend weather")],  # prose: no title object
        [text('{"title": "  "}')],
    ):
        server.reply(*failure)
        renamed = await rename(http, app, first["conversation_id"])
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["name"] == cut
    assert not server.script


async def test_the_first_turn_is_named_in_the_background(
    chat: tuple[Plait, httpx.AsyncClient, Published], server: ScriptedServer
) -> None:
    plait, http, app = chat
    # The title comes late: the turn answers without waiting for it.
    server.reply(text("It will be sunny."), text('{"title": "Paris weekend weather"}', delay=1.0))
    first = await turn(http, app, LONG_QUERY, response_mode="streaming")
    conversation_id = first["conversation_id"]
    assert (await names(http, app))[conversation_id] == LONG_QUERY[:NAME_LENGTH]
    await plait.conversation_names.settled()
    assert (await names(http, app))[conversation_id] == "Paris weekend weather"
    assert server.requests[-1].json()["messages"][1] == {"role": "user", "content": LONG_QUERY}

    # Later turns do not rename it.
    server.reply(text("Yes."))
    await turn(http, app, "And on Monday?", conversation_id=conversation_id)
    await plait.conversation_names.settled()
    assert not server.script
    assert len(server.requests) == 4  # the credentials check, two turns, one title
    assert (await names(http, app))[conversation_id] == "Paris weekend weather"


async def test_no_background_name_when_the_client_says_so(
    chat: tuple[Plait, httpx.AsyncClient, Published], server: ScriptedServer
) -> None:
    plait, http, app = chat
    server.reply(text("It will be sunny."))
    first = await turn(http, app, LONG_QUERY, auto_generate_name=False)
    await plait.conversation_names.settled()
    assert len(server.requests) == 2  # the credentials check and the turn
    assert (await names(http, app))[first["conversation_id"]] == LONG_QUERY[:NAME_LENGTH]


async def test_a_failed_background_name_keeps_the_cut_query(
    chat: tuple[Plait, httpx.AsyncClient, Published], server: ScriptedServer
) -> None:
    plait, http, app = chat
    server.reply(text("It will be sunny."), openai_error(400, "This model is busy elsewhere"))
    first = await turn(http, app, LONG_QUERY)
    await plait.conversation_names.settled()
    assert len(server.requests) == 3
    assert (await names(http, app))[first["conversation_id"]] == LONG_QUERY[:NAME_LENGTH]


async def test_a_name_given_meanwhile_wins_over_the_background_one(
    chat: tuple[Plait, httpx.AsyncClient, Published], server: ScriptedServer
) -> None:
    plait, http, app = chat
    server.reply(text("It will be sunny."))
    first = await turn(http, app, LONG_QUERY, auto_generate_name=False)
    conversation_id = first["conversation_id"]
    given = await http.post(
        f"/v1/conversations/{conversation_id}/name", headers=app.auth, json={"user": "u1", "name": "Mine"}
    )
    assert given.status_code == 200, given.text
    async with plait.db.reader() as session:
        row = await session.get(App, app.app_id)
    assert row is not None
    version = await plait.apps.published_version(app.workspace_id, app.app_id)
    assert version is not None
    server.reply(text('{"title": "Paris weekend weather"}'))
    await plait.conversation_names.name_later(row, version, conversation_id, LONG_QUERY)
    assert len(server.requests) == 3  # the title was asked for, and not used
    assert (await names(http, app))[conversation_id] == "Mine"


@pytest.mark.parametrize(
    ("reply", "title"),
    [
        ('{"title": "Paris weather"}', "Paris weather"),
        ('Here you go:\n```json\n{"title": "Paris weather"}\n```', "Paris weather"),
        ('{"title": "\u201cParis weather\u201d"}', "Paris weather"),
        ('{"title": "\n**Paris   weather**\nmore\n"}', "Paris weather"),
        ('{"title": "' + "word " * 20 + '"}', ("word " * 8).strip()),
        ('{"language": "fr"} {"title": "Météo à Paris"}', "Météo à Paris"),
        ('{"title": 7}', None),
        ("Paris weather", None),
        ('{"title": "unterminated', None),
    ],
)
def test_parse_title(reply: str, title: str | None) -> None:
    assert parse_title(reply) == title
