"""Model providers end to end: credentials saved through the console (checked by a real
call, sealed at rest, shown masked, kept when sent back masked), apps answering from a
real OpenAI-compatible server on loopback under Dify's provider id forms, default models,
the override, the offline local model, and clear errors when nothing is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from plait.app.bootstrap import Plait
from plait.errors import ConfigurationError
from plait.storage.db.tables import Account, Membership, ProviderCredential, Workspace

from ..conftest import OWNER_EMAIL, OWNER_PASSWORD, StartPlait
from ..providers.servers import Reply, ScriptedServer, openai_error, openai_text_stream
from .test_service_workflows import Published, assert_envelope, publish

WORKSPACE = "/console/api/workspaces/current"
PROVIDERS = f"{WORKSPACE}/model-providers"
COMPATIBLE = "langgenius/openai_api_compatible/openai_api_compatible"
API_KEY = "sk-compatible-0123456789abcdef"


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    instance = ScriptedServer()
    await instance.start()
    yield instance
    await instance.close()


async def console(start_plait: StartPlait, **env: str) -> tuple[Plait, httpx.AsyncClient, dict[str, str]]:
    """A Plait with no model override (real resolution), loopback allowed, and its owner."""
    plait, http = await start_plait(**{"PLAIT_MODEL_OVERRIDE": "", "PLAIT_EGRESS_ALLOW_LOOPBACK": "true", **env})
    created = await http.post(
        "/console/api/setup", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "name": "Owner"}
    )
    assert created.status_code == 201, created.text
    login = await http.post("/console/api/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    return plait, http, {"Authorization": f"Bearer {login.json()['data']['access_token']}"}


def chat_app(provider: str, name: str) -> dict[str, Any]:
    return {
        "version": "0.3.0",
        "kind": "app",
        "app": {"name": "Chat", "mode": "chat"},
        "model_config": {
            "model": {"provider": provider, "name": name, "mode": "chat", "completion_params": {"temperature": 0.1}},
            "pre_prompt": "You are terse.",
            "user_input_form": [],
        },
    }


async def workspace_of(plait: Plait) -> str:
    async with plait.db.reader() as session:
        found = (await session.execute(select(Workspace.id))).scalars().first()
    assert found is not None
    return str(found)


async def ask(http: httpx.AsyncClient, app: Published, query: str = "hi") -> httpx.Response:
    return await http.post(
        "/v1/chat-messages",
        headers=app.auth,
        # No background conversation name: its model call would reach the scripted server too.
        json={"query": query, "inputs": {}, "user": "u1", "response_mode": "blocking", "auto_generate_name": False},
    )


async def save_custom_model(http: httpx.AsyncClient, owner: dict[str, str], server: ScriptedServer) -> httpx.Response:
    return await http.post(
        f"{PROVIDERS}/{COMPATIBLE}/models",
        headers=owner,
        json={
            "model": "team-model",
            "model_type": "llm",
            "credentials": {
                "endpoint_url": server.url("/v1"),
                "api_key": API_KEY,
                "endpoint_model_name": "served-name",
            },
        },
    )


async def test_a_custom_model_on_a_compatible_server_answers_an_app(
    start_plait: StartPlait, server: ScriptedServer
) -> None:
    plait, http, owner = await console(start_plait)
    server.reply(Reply.sse(openai_text_stream("pong")))  # the validation call
    saved = await save_custom_model(http, owner, server)
    assert saved.status_code == 200, saved.text
    assert saved.json()["credentials"]["api_key"] == "sk-com************ef"
    validation = server.requests[-1]
    assert validation.headers["authorization"] == f"Bearer {API_KEY}"
    assert validation.json()["model"] == "served-name"

    app = await publish(plait, chat_app(COMPATIBLE, "team-model"), await workspace_of(plait))
    server.reply(Reply.sse(openai_text_stream("Hello", " from", " the server")))
    answer = await ask(http, app, "say hello")
    assert answer.status_code == 200, answer.text
    assert answer.json()["answer"] == "Hello from the server"
    assert answer.json()["metadata"]["usage"]["prompt_tokens"] == 11
    sent = server.requests[-1].json()
    assert sent["messages"][0] == {"role": "system", "content": "You are terse."}
    assert sent["messages"][-1]["content"] == "say hello"
    assert sent["temperature"] == 0.1

    # At rest the key is sealed; nothing in the row reads as the key.
    async with plait.db.reader() as session:
        row = (await session.execute(select(ProviderCredential))).scalars().one()
    assert row.config["api_key"].startswith("plait:v1:")
    assert API_KEY not in str(row.config)


async def test_a_masked_secret_sent_back_keeps_the_stored_one(start_plait: StartPlait, server: ScriptedServer) -> None:
    _plait, http, owner = await console(start_plait)
    server.reply(Reply.sse(openai_text_stream("pong")))
    shown = (await save_custom_model(http, owner, server)).json()["credentials"]
    server.reply(Reply.sse(openai_text_stream("pong")))
    again = await http.post(
        f"{PROVIDERS}/{COMPATIBLE}/models",
        headers=owner,
        json={"model": "team-model", "model_type": "llm", "credentials": {**shown, "endpoint_model_name": "renamed"}},
    )
    assert again.status_code == 200, again.text
    assert server.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"
    assert server.requests[-1].json()["model"] == "renamed"


async def test_credentials_the_vendor_refuses_are_not_saved(start_plait: StartPlait, server: ScriptedServer) -> None:
    plait, http, owner = await console(start_plait)
    server.reply(openai_error(401, "Incorrect API key provided", type="invalid_api_key"))
    refused = await save_custom_model(http, owner, server)
    body = assert_envelope(refused, 400, "invalid_param")
    assert "refused these credentials" in body["message"]
    assert API_KEY not in refused.text
    async with plait.db.reader() as session:
        assert (await session.execute(select(ProviderCredential))).scalars().all() == []


async def test_a_provider_without_credentials_says_so(start_plait: StartPlait) -> None:
    plait, http, _owner = await console(start_plait)
    app = await publish(plait, chat_app("langgenius/openai/openai", "gpt-4o-mini"), await workspace_of(plait))
    answer = await ask(http, app)
    body = assert_envelope(answer, 400, "provider_not_initialize")
    assert "OpenAI" in body["message"]
    assert "Model providers" in body["message"]


async def test_the_catalog_and_default_models(start_plait: StartPlait) -> None:
    plait, http, owner = await console(start_plait)
    catalog = (await http.get(PROVIDERS, headers=owner)).json()["data"]
    by_id = {provider["provider"]: provider for provider in catalog}
    assert {"openai", "anthropic", "openai_api_compatible", "local", "fake"} <= set(by_id)
    assert by_id["local"]["custom_configuration"]["status"] == "active"
    assert by_id["openai"]["custom_configuration"]["status"] == "no-configure"
    secret = next(
        f
        for f in by_id["openai"]["provider_credential_schema"]["credential_form_schemas"]
        if f["variable"] == "openai_api_key"
    )
    assert secret["type"] == "secret-input"

    builtin = (await http.get(f"{WORKSPACE}/default-model", headers=owner, params={"model_type": "llm"})).json()
    assert (builtin["data"]["provider"]["provider"], builtin["data"]["model"]) == ("local", "smollm2-135m-instruct")
    chosen = await http.post(
        f"{WORKSPACE}/default-model",
        headers=owner,
        json={"model_settings": [{"model_type": "llm", "provider": "fake", "model": "fake"}]},
    )
    assert chosen.status_code == 200, chosen.text
    # An app that names no model now answers from the workspace's default.
    app = await publish(plait, chat_app("", ""), await workspace_of(plait))
    answer = await ask(http, app, "what now")
    assert answer.json()["answer"] == "Plait fake reply: what now"
    usable = (await http.get(f"{WORKSPACE}/models/model-types/llm", headers=owner)).json()
    assert {group["provider"] for group in usable["data"]} >= {"local", "fake"}
    assert "openai" not in {group["provider"] for group in usable["data"]}


async def test_only_owners_and_admins_manage_providers(start_plait: StartPlait, server: ScriptedServer) -> None:
    plait, http, _owner = await console(start_plait)
    async with plait.db.transaction() as session:
        editor = Account(email="e@example.com", name="E", password_hash=PasswordHasher().hash("editor-passw0rd"))
        session.add(editor)
        await session.flush()
        session.add(Membership(workspace_id=await workspace_of(plait), account_id=editor.id, role="editor"))
    login = await http.post("/console/api/login", json={"email": "e@example.com", "password": "editor-passw0rd"})
    headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
    assert (await http.get(PROVIDERS, headers=headers)).status_code == 200
    assert_envelope(await save_custom_model(http, headers, server), 403, "forbidden")
    assert server.requests == []


async def test_the_override_routes_every_call(start_plait: StartPlait) -> None:
    plait, http, _owner = await console(start_plait, PLAIT_MODEL_OVERRIDE="fake")
    app = await publish(plait, chat_app("langgenius/openai/openai", "gpt-4o"), await workspace_of(plait))
    assert (await ask(http, app, "offline")).json()["answer"] == "Plait fake reply: offline"


async def test_an_unknown_override_provider_stops_startup(start_plait: StartPlait) -> None:
    with pytest.raises(ConfigurationError, match="unknown provider 'nonsense'"):
        await start_plait(PLAIT_MODEL_OVERRIDE="nonsense:model")


@pytest.mark.slow
async def test_the_offline_local_model_answers_with_real_text(start_plait: StartPlait) -> None:
    plait, http, _owner = await console(start_plait, PLAIT_LOCAL_CHAT_CONTEXT="1024")
    app = await publish(plait, chat_app("", ""), await workspace_of(plait))
    answer = await ask(http, app, "Name one colour.")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["answer"].strip()
    assert body["metadata"]["usage"]["completion_tokens"] > 0
    assert body["metadata"]["usage"]["total_price"] == "0.0000000"
