"""The Service API for workflow apps, as a Dify client sees it: app-key auth and gating,
blocking and streaming runs in Dify's shapes, run detail, input validation, /info, /parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select, update

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.ids import new_id
from plait.storage.db.tables import App, AppVersion

WORKFLOW_APP: dict[str, Any] = {
    "version": "0.6.0",
    "kind": "app",
    "app": {"name": "Greeter", "mode": "workflow", "description": "Says hello."},
    "workflow": {
        "environment_variables": [],
        "conversation_variables": [],
        "features": {},
        "graph": {
            "nodes": [
                {
                    "id": "start",
                    "data": {
                        "type": "start",
                        "variables": [
                            {
                                "variable": "name",
                                "label": "Name",
                                "type": "text-input",
                                "required": True,
                                "max_length": 20,
                            }
                        ],
                    },
                },
                {
                    "id": "greet",
                    "data": {
                        "type": "template-transform",
                        "template": "Hello, {{ name }}!",
                        "variables": [{"variable": "name", "value_selector": ["start", "name"]}],
                    },
                },
                {
                    "id": "end",
                    "data": {
                        "type": "end",
                        "outputs": [{"variable": "greeting", "value_selector": ["greet", "output"]}],
                    },
                },
            ],
            "edges": [{"source": "start", "target": "greet"}, {"source": "greet", "target": "end"}],
        },
    },
}


@dataclass
class Published:
    app_id: str
    workspace_id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def publish(plait: Plait, document: dict[str, Any], workspace_id: str) -> Published:
    result = await plait.apps.import_dsl(workspace_id, CLI, yaml.safe_dump(document), publish=True)
    key = await plait.keys.create(workspace_id, CLI, kind="app", app_id=result.app_id)
    return Published(result.app_id, workspace_id, key.token)


@pytest.fixture
async def greeter(plait: Plait) -> Published:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    return await publish(plait, WORKFLOW_APP, setup.workspace_id)


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    return body


async def test_a_blocking_run_returns_dify_shape(client: httpx.AsyncClient, greeter: Published) -> None:
    response = await client.post(
        "/v1/workflows/run", headers=greeter.auth, json={"inputs": {"name": "Ada"}, "user": "u1"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"task_id", "workflow_run_id", "data"}
    data = body["data"]
    assert data["id"] == body["workflow_run_id"]
    assert data["status"] == "succeeded"
    assert data["outputs"] == {"greeting": "Hello, Ada!"}
    assert data["error"] is None
    assert data["total_steps"] == 3
    assert isinstance(data["created_at"], int)
    assert isinstance(data["finished_at"], int)
    assert isinstance(data["elapsed_time"], float)


async def test_the_run_can_be_read_back_at_once(client: httpx.AsyncClient, greeter: Published) -> None:
    run = (
        await client.post("/v1/workflows/run", headers=greeter.auth, json={"inputs": {"name": "Ada"}, "user": "u1"})
    ).json()
    detail = await client.get(f"/v1/workflows/run/{run['workflow_run_id']}", headers=greeter.auth)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["status"] == "succeeded"
    assert body["inputs"] == json.dumps({"name": "Ada"})  # a JSON string, as in Dify
    assert body["outputs"] == {"greeting": "Hello, Ada!"}
    assert body["total_steps"] == 3


async def test_a_streaming_run_speaks_dify_sse(client: httpx.AsyncClient, greeter: Published) -> None:
    body = {"inputs": {"name": "Ada"}, "user": "u1", "response_mode": "streaming"}
    response = await client.post("/v1/workflows/run", headers=greeter.auth, json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    frames = [frame for frame in response.text.split("\n\n") if frame]
    assert all(frame.startswith("data: ") for frame in frames)
    events = [json.loads(frame[len("data: ") :]) for frame in frames]
    names = [event["event"] for event in events]
    assert names[0] == "workflow_started"
    assert names[-1] == "workflow_finished"
    assert names.count("node_started") == names.count("node_finished") == 3
    assert "".join(e["data"]["text"] for e in events if e["event"] == "text_chunk") == "Hello, Ada!"
    run_id = events[0]["workflow_run_id"]
    assert all(event["workflow_run_id"] == run_id and event["task_id"] for event in events)
    assert events[-1]["data"]["outputs"] == {"greeting": "Hello, Ada!"}


async def test_blocking_is_the_default(client: httpx.AsyncClient, greeter: Published) -> None:
    response = await client.post("/v1/workflows/run", headers=greeter.auth, json={"inputs": {"name": "x"}, "user": "u"})
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": {"name": "Ada"}}, "Arg user must be provided."),
        ({"user": "u1"}, "Arg inputs must be provided."),
        ({"inputs": {}, "user": "u1"}, "name is required in input form"),
        ({"inputs": {"name": "x" * 21}, "user": "u1"}, "at most 20 characters"),
        ({"inputs": {"name": "Ada"}, "user": "u1", "response_mode": "sideways"}, "response_mode"),
    ],
)
async def test_bad_requests_get_invalid_param(
    client: httpx.AsyncClient, greeter: Published, body: dict[str, Any], message: str
) -> None:
    response = await client.post("/v1/workflows/run", headers=greeter.auth, json=body)
    assert message in assert_envelope(response, 400, "invalid_param")["message"]


async def test_keys_are_required_and_checked(client: httpx.AsyncClient, greeter: Published, plait: Plait) -> None:
    missing = await client.get("/v1/info")
    assert_envelope(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == 'Bearer realm="api"'
    assert_envelope(await client.get("/v1/info", headers={"Authorization": "Bearer app-nope"}), 401, "unauthorized")
    dataset_key = await plait.keys.create(greeter.workspace_id, CLI, kind="dataset")
    wrong_kind = await client.get("/v1/info", headers={"Authorization": f"Bearer {dataset_key.token}"})
    assert_envelope(wrong_kind, 401, "unauthorized")


async def test_a_disabled_api_is_forbidden(client: httpx.AsyncClient, greeter: Published, plait: Plait) -> None:
    async with plait.db.transaction() as session:
        await session.execute(update(App).where(App.id == greeter.app_id).values(enable_api=False))
    response = await client.get("/v1/info", headers=greeter.auth)
    assert assert_envelope(response, 403, "forbidden")["message"] == "The app's API service has been disabled."


async def test_an_unpublished_app_is_unavailable(client: httpx.AsyncClient, plait: Plait, greeter: Published) -> None:
    draft = await plait.apps.import_dsl(greeter.workspace_id, CLI, yaml.safe_dump(WORKFLOW_APP))
    key = await plait.keys.create(greeter.workspace_id, CLI, kind="app", app_id=draft.app_id)
    response = await client.post(
        "/v1/workflows/run",
        headers={"Authorization": f"Bearer {key.token}"},
        json={"inputs": {"name": "x"}, "user": "u"},
    )
    assert_envelope(response, 400, "app_unavailable")


async def test_a_chat_app_is_not_a_workflow_app(client: httpx.AsyncClient, plait: Plait, greeter: Published) -> None:
    chat = {"version": "0.1.5", "kind": "app", "app": {"name": "Bot", "mode": "chat"}, "model_config": {}}
    published = await publish(plait, chat, greeter.workspace_id)
    response = await client.post("/v1/workflows/run", headers=published.auth, json={"inputs": {}, "user": "u"})
    assert_envelope(response, 400, "not_workflow_app")


async def test_another_apps_runs_are_not_found(client: httpx.AsyncClient, plait: Plait, greeter: Published) -> None:
    other = await publish(plait, WORKFLOW_APP, greeter.workspace_id)
    run = (
        await client.post("/v1/workflows/run", headers=greeter.auth, json={"inputs": {"name": "A"}, "user": "u"})
    ).json()
    response = await client.get(f"/v1/workflows/run/{run['workflow_run_id']}", headers=other.auth)
    assert_envelope(response, 404, "not_found")
    assert_envelope(await client.get("/v1/workflows/run/not-a-uuid", headers=greeter.auth), 404, "not_found")


async def test_a_failing_run_is_reported_not_raised(
    client: httpx.AsyncClient, plait: Plait, greeter: Published
) -> None:
    broken = json.loads(json.dumps(WORKFLOW_APP))
    broken["workflow"]["graph"]["nodes"][1]["data"]["template"] = "{{ name.nope() }}"
    published = await publish(plait, broken, greeter.workspace_id)
    response = await client.post(
        "/v1/workflows/run", headers=published.auth, json={"inputs": {"name": "A"}, "user": "u"}
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "failed"
    assert "template" in data["error"]


async def test_info_and_parameters(client: httpx.AsyncClient, greeter: Published) -> None:
    info = (await client.get("/v1/info", headers=greeter.auth)).json()
    assert info == {"name": "Greeter", "description": "Says hello.", "tags": [], "mode": "workflow", "author_name": ""}
    parameters = (await client.get("/v1/parameters", headers=greeter.auth)).json()
    assert parameters["user_input_form"] == [
        {"text-input": {"label": "Name", "variable": "name", "required": True, "max_length": 20}}
    ]
    assert parameters["suggested_questions_after_answer"] == {"enabled": False}
    assert parameters["system_parameters"]["file_size_limit"] == 15


async def test_site_and_meta(client: httpx.AsyncClient, greeter: Published, plait: Plait) -> None:
    site = (await client.get("/v1/site", headers=greeter.auth)).json()
    assert site["title"] == "Greeter"
    assert site["description"] == "Says hello."
    assert (await client.get("/v1/meta", headers=greeter.auth)).json() == {"tool_icons": {}}
    async with plait.db.transaction() as session:
        await session.execute(update(App).where(App.id == greeter.app_id).values(enable_site=False))
    # Changed behind Plait's back: the key cache would serve the app as it was for up to
    # PLAIT_API_KEY_CACHE_SECONDS; drop it as a change made through Plait does.
    plait.app_access.forget_app(greeter.app_id)
    assert_envelope(await client.get("/v1/site", headers=greeter.auth), 403, "forbidden")


async def test_a_specific_published_version_runs(client: httpx.AsyncClient, greeter: Published, plait: Plait) -> None:
    first = await plait.apps.published_version(greeter.workspace_id, greeter.app_id)
    assert first is not None
    async with plait.db.transaction() as session:
        draft = (
            await session.execute(
                select(AppVersion).where(AppVersion.app_id == greeter.app_id, AppVersion.version == "draft")
            )
        ).scalar_one()
        workflow = json.loads(json.dumps(draft.workflow))
        workflow["graph"]["nodes"][1]["data"]["template"] = "Bonjour, {{ name }} !"
        draft.workflow = workflow
        draft_id = draft.id
    await plait.apps.publish(greeter.workspace_id, CLI, greeter.app_id)
    body = {"inputs": {"name": "Ada"}, "user": "u"}
    latest = (await client.post("/v1/workflows/run", headers=greeter.auth, json=body)).json()
    assert latest["data"]["outputs"] == {"greeting": "Bonjour, Ada !"}
    pinned = (await client.post(f"/v1/workflows/{first.id}/run", headers=greeter.auth, json=body)).json()
    assert pinned["data"]["outputs"] == {"greeting": "Hello, Ada!"}
    assert pinned["data"]["workflow_id"] == first.id
    assert_envelope(
        await client.post(f"/v1/workflows/{draft_id}/run", headers=greeter.auth, json=body), 400, "bad_request"
    )
    assert_envelope(
        await client.post(f"/v1/workflows/{new_id()}/run", headers=greeter.auth, json=body), 404, "not_found"
    )


async def test_reconnecting_to_a_finished_run(client: httpx.AsyncClient, greeter: Published) -> None:
    run = (
        await client.post("/v1/workflows/run", headers=greeter.auth, json={"inputs": {"name": "Ada"}, "user": "u1"})
    ).json()
    url = f"/v1/workflow/{run['workflow_run_id']}/events"
    response = await client.get(url, headers=greeter.auth, params={"user": "u1"})
    assert response.status_code == 200
    frames = [frame for frame in response.text.split("\n\n") if frame]
    assert len(frames) == 1
    event = json.loads(frames[0][len("data: ") :])
    assert event["event"] == "workflow_finished"
    assert event["data"]["outputs"] == {"greeting": "Hello, Ada!"}
    assert_envelope(await client.get(url, headers=greeter.auth, params={"user": "someone-else"}), 404, "not_found")
