"""Agent apps and chat memory through the Service API, on a real OpenAI-compatible server
on loopback: an agent-chat app calls a real built-in tool (function calling), streams
``agent_thought`` / ``agent_message`` / ``message_end`` and keeps its rounds in the history;
a chat app sends the conversation so far with each turn; a failed turn ends its stream with
Dify's ``error`` event."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from plait.app.bootstrap import Plait

from ..conftest import StartPlait
from ..providers.servers import Reply, ScriptedServer, openai_chunk, openai_sse, openai_text_stream, tool_fragment
from .test_model_providers import COMPATIBLE, console, workspace_of
from .test_service_workflows import Published, assert_envelope, publish


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    instance = ScriptedServer()
    await instance.start()
    yield instance
    await instance.close()


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(frame[6:]) for frame in response.text.split("\n\n") if frame.startswith("data: ")]


async def with_model(
    start_plait: StartPlait, server: ScriptedServer, *, tools: bool
) -> tuple[Plait, httpx.AsyncClient]:
    plait, http, owner = await console(start_plait)
    server.reply(Reply.sse(openai_text_stream("pong")))  # the credentials check
    saved = await http.post(
        f"/console/api/workspaces/current/model-providers/{COMPATIBLE}/models",
        headers=owner,
        json={
            "model": "helper",
            "model_type": "llm",
            "credentials": {
                "endpoint_url": server.url("/v1"),
                "api_key": "k-123456789",
                "function_calling_type": "tool_call" if tools else "no_call",
            },
        },
    )
    assert saved.status_code == 200, saved.text
    return plait, http


def app_document(mode: str, **config: Any) -> dict[str, Any]:
    return {
        "version": "0.3.0",
        "kind": "app",
        "app": {"name": mode, "mode": mode},
        "model_config": {
            "model": {"provider": COMPATIBLE, "name": "helper", "mode": "chat", "completion_params": {}},
            "pre_prompt": "You help.",
            "user_input_form": [],
            **config,
        },
    }


AGENT_MODE = {
    "agent_mode": {
        "enabled": True,
        "strategy": "function_call",
        "max_iteration": 3,
        "tools": [
            {
                "provider_type": "builtin",
                "provider_id": "maths",
                "provider_name": "maths",
                "tool_name": "eval_expression",
                "tool_parameters": {},
                "enabled": True,
            }
        ],
    }
}


def tool_call_stream(name: str, arguments: str) -> Reply:
    return Reply.sse(
        openai_sse(
            [
                openai_chunk(role="assistant", content=""),
                openai_chunk(tool_calls=[tool_fragment(0, id="call_1", name=name, arguments=arguments)]),
                openai_chunk(finish_reason="tool_calls"),
                openai_chunk(usage=(20, 5)),
            ]
        )
    )


async def ask(http: httpx.AsyncClient, app: Published, query: str, **body: Any) -> httpx.Response:
    # No background conversation name: its model call would take a reply scripted for a turn.
    body = {"query": query, "inputs": {}, "user": "u1", "auto_generate_name": False, **body}
    return await http.post("/v1/chat-messages", headers=app.auth, json=body)


async def test_an_agent_app_calls_a_tool_and_streams_its_thoughts(
    start_plait: StartPlait, server: ScriptedServer
) -> None:
    plait, http = await with_model(start_plait, server, tools=True)
    app = await publish(plait, app_document("agent-chat", **AGENT_MODE), await workspace_of(plait))
    assert_envelope(await ask(http, app, "6 times 7?", response_mode="blocking"), 400, "invalid_param")

    server.reply(
        tool_call_stream("eval_expression", '{"expression": "6*7"}'), Reply.sse(openai_text_stream("It is", " 42."))
    )
    response = await ask(http, app, "6 times 7?", response_mode="streaming")
    assert response.status_code == 200, response.text
    events = events_of(response)
    names = [event["event"] for event in events]
    assert names[0] == "agent_thought"
    assert names[-1] == "message_end"
    assert "message" not in names
    answer = "".join(event["answer"] for event in events if event["event"] == "agent_message")
    assert answer == "It is 42."
    round_one = [event for event in events if event["event"] == "agent_thought" and event["position"] == 1]
    assert round_one[-1]["tool"] == "eval_expression"
    assert json.loads(round_one[-1]["tool_input"]) == {"eval_expression": {"expression": "6*7"}}
    assert "42" in round_one[-1]["observation"]
    # The model saw the tool's real result.
    second_request = server.requests[-1].json()
    assert second_request["messages"][-1]["role"] == "tool"
    assert "42" in second_request["messages"][-1]["content"]
    assert second_request["tools"][0]["function"]["name"] == "eval_expression"
    end = events[-1]
    assert end["metadata"]["usage"]["total_tokens"] == 25 + 18

    history = await http.get(
        "/v1/messages", headers=app.auth, params={"conversation_id": end["conversation_id"], "user": "u1"}
    )
    thoughts = history.json()["data"][0]["agent_thoughts"]
    assert [thought["position"] for thought in thoughts] == [1, 2]
    assert thoughts[0]["tool"] == "eval_expression"


async def test_a_chat_app_sends_the_conversation_so_far(start_plait: StartPlait, server: ScriptedServer) -> None:
    plait, http = await with_model(start_plait, server, tools=False)
    app = await publish(plait, app_document("chat"), await workspace_of(plait))
    server.reply(Reply.sse(openai_text_stream("Hello Ada.")), Reply.sse(openai_text_stream("Your name is Ada.")))
    first = (await ask(http, app, "My name is Ada.", response_mode="blocking")).json()
    second = await ask(
        http, app, "What is my name?", response_mode="blocking", conversation_id=first["conversation_id"]
    )
    assert second.json()["answer"] == "Your name is Ada."
    sent = [(m["role"], m["content"]) for m in server.requests[-1].json()["messages"]]
    assert sent == [
        ("system", "You help."),
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada."),
        ("user", "What is my name?"),
    ]


async def test_a_failed_turn_ends_its_stream_with_an_error_event(start_plait: StartPlait) -> None:
    plait, http, _owner = await console(start_plait)
    document = app_document("chat")
    document["model_config"]["model"]["provider"] = "anthropic"
    app = await publish(plait, document, await workspace_of(plait))
    response = await ask(http, app, "hi", response_mode="streaming")
    assert response.status_code == 200
    last = events_of(response)[-1]
    assert (last["event"], last["code"], last["status"]) == ("error", "provider_not_initialize", 400)
    assert "Anthropic" in last["message"]
