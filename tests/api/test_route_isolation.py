"""Tenant isolation, route by route: with workspace A's app and dataset keys and console
session, every route of the Service and console APIs that takes an id is probed with
workspace B's ids (apps, versions, conversations, messages, end users, files, runs, tasks,
keys, annotations, annotation settings and jobs; datasets, documents, batches, segments,
child chunks, tags, metadata fields, knowledge uploads and ``ds-`` keys, see
``knowledge_probes``). Each answers as it would for an id that does not exist, and no reply
carries anything of B's. The route list comes from the OpenAPI document, so a new route
with an id fails this test until it has its probe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.app.file_links import FileLinks
from plait.app.tool_providers import McpProviderForm
from plait.ids import new_id
from plait.storage.db.tables import Message, Workspace

from .knowledge_probes import KNOWLEDGE_SECRET, empty_list_probes, knowledge_data, knowledge_probes
from .test_service_chat import CHATFLOW
from .test_service_workflows import WORKFLOW_APP, Published, publish

SECRET = "their secret question"
SECRET_ANSWER = "their secret answer"
REPLY = {"embedding_provider_name": "fake", "embedding_model_name": "fake", "score_threshold": 0.9}
# Stopping a task is silently ignored unless the caller started it (Dify answers success):
# for these the proof is that B's data does not change and the reply is the unknown id's.
SAME_AS_UNKNOWN = {
    ("POST", "/v1/chat-messages/{task_id}/stop"),
    ("POST", "/v1/completion-messages/{task_id}/stop"),
    ("POST", "/v1/workflows/tasks/{task_id}/stop"),
    ("GET", "/v1/apps/annotation-reply/{action}/status/{job_id}"),
    ("GET", "/console/api/apps/{app_id}/annotation-reply/{action}/status/{job_id}"),
}
# Valid bodies for console routes under B's app, so that only the app id can be what refuses them.
BODIES: dict[str, Any] = {
    "POST /console/api/apps/{app_id}/workflows/draft": {"graph": {"nodes": [], "edges": []}},
    "POST /console/api/apps/{app_id}/annotations": {"question": "q", "answer": "a"},
    "POST /console/api/apps/{app_id}/annotation-reply/{action}": REPLY,
    "PUT /console/api/apps/{app_id}/annotations/{annotation_id}": {"question": "q", "answer": "a"},
    "POST /console/api/apps/{app_id}/annotations/{annotation_id}": {"question": "q", "answer": "a"},
    "POST /console/api/apps/{app_id}/annotation-settings/{setting_id}": {"score_threshold": 0.1},
    "POST /console/api/apps/{app_id}/workflows/publish": {},
}
QUERIES: dict[str, Any] = {"GET /console/api/apps/{app_id}/chat-messages": {"conversation_id": new_id()}}
# Routes whose path parameters are names, not ids of another tenant's resources.
NOT_TENANT_IDS = {
    ("POST", "/v1/apps/annotation-reply/{action}"),  # always the key's own app
    ("GET", "/console/api/workspaces/current/models/model-types/{model_type}"),
    ("GET", "/console/api/workspaces/current/model-providers/{provider}/credentials"),
    ("POST", "/console/api/workspaces/current/model-providers/{provider}/credentials"),
    ("DELETE", "/console/api/workspaces/current/model-providers/{provider}/credentials"),
    ("POST", "/console/api/workspaces/current/model-providers/{provider}/credentials/validate"),
    ("POST", "/console/api/workspaces/current/model-providers/{provider}/models"),
    ("DELETE", "/console/api/workspaces/current/model-providers/{provider}/models"),
    ("GET", "/console/api/workspaces/current/tool-provider/builtin/{provider}/tools"),
}
# Ids of workspace resources that this test does not create yet: each needs a probe with B's.
NOT_YET_PROBED: set[tuple[str, str]] = set()


@dataclass
class Tenant:
    chat: Published
    workflow: Published
    ids: dict[str, str]
    knowledge_token: str

    @property
    def knowledge_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.knowledge_token}"}


async def _tenant_data(client: httpx.AsyncClient, plait: Plait, workspace_id: str) -> Tenant:
    chat = await publish(plait, CHATFLOW, workspace_id)
    workflow = await publish(plait, WORKFLOW_APP, workspace_id)
    turn = (
        await client.post("/v1/chat-messages", headers=chat.auth, json={"query": SECRET, "inputs": {}, "user": "alice"})
    ).json()
    run = (
        await client.post("/v1/workflows/run", headers=workflow.auth, json={"inputs": {"name": "Zed"}, "user": "alice"})
    ).json()
    upload = (
        await client.post(
            "/v1/files/upload",
            headers=chat.auth,
            data={"user": "alice"},
            files={"file": ("s.png", b"\x89PNG", "image/png")},
        )
    ).json()
    annotation = (
        await client.post("/v1/apps/annotations", headers=chat.auth, json={"question": SECRET, "answer": SECRET_ANSWER})
    ).json()
    job = (await client.post("/v1/apps/annotation-reply/enable", headers=chat.auth, json=REPLY)).json()
    await plait.annotation_jobs.wait(job["job_id"])
    await plait.recorder.flush()
    chat_app = await plait.apps.get(workspace_id, chat.app_id)
    workflow_app = await plait.apps.get(workspace_id, workflow.app_id)
    setting = await plait.annotations.setting(chat_app)
    assert setting is not None
    key = await plait.keys.create(workspace_id, CLI, kind="app", app_id=chat.app_id)
    end_user = await plait.workflow_runs.end_user(chat_app, "alice")
    # Saving an MCP server connects nowhere; listing its tools would (B's is never reached).
    mcp = await plait.tool_providers.add_mcp(
        workspace_id, CLI, McpProviderForm(name="Secret MCP", server_url="https://mcp.invalid/mcp")
    )
    ids = {
        "app_id": chat.app_id,
        "workflow_app_id": workflow.app_id,
        "workflow_id": workflow_app.published_version_id or "",
        "conversation_id": turn["conversation_id"],
        "message_id": turn["message_id"],
        "task_id": turn["task_id"],
        "workflow_run_id": run["workflow_run_id"],
        "chat_run_id": (await _message(plait, turn["message_id"])).workflow_run_id or "",
        "end_user_id": end_user.id,
        "file_id": upload["id"],
        "annotation_id": annotation["id"],
        "job_id": job["job_id"],
        "setting_id": setting.id,
        "key_id": key.id,
        "mcp_provider_id": mcp.id,
    }
    knowledge, knowledge_token = await knowledge_data(client, plait, workspace_id)
    return Tenant(chat, workflow, ids | knowledge, knowledge_token)


async def _message(plait: Plait, message_id: str) -> Message:
    async with plait.db.reader() as session:
        message = await session.get(Message, message_id)
    assert message is not None
    return message


@pytest.fixture
async def tenants(client: httpx.AsyncClient, plait: Plait) -> tuple[Tenant, Tenant, str]:
    """A (with a console session) and B, each with one of everything."""
    setup = await plait.accounts.setup(
        email="a@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    async with plait.db.transaction() as session:
        other = Workspace(name="B")
        session.add(other)
    mine = await _tenant_data(client, plait, setup.workspace_id)
    theirs = await _tenant_data(client, plait, other.id)
    login = await client.post("/console/api/login", json={"email": "a@example.com", "password": "passw0rd-long"})
    return mine, theirs, login.json()["data"]["access_token"]


def _probes(
    mine: Tenant, theirs: Tenant, routes: list[tuple[str, str]], links: FileLinks
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per route, the requests that aim A's credentials at B's ids."""
    b = theirs.ids
    user = {"user": "alice"}
    body = BODIES["POST /console/api/apps/{app_id}/annotations"]
    a_app = {"app_id": mine.ids["app_id"]}
    a_workflow = {"app_id": mine.ids["workflow_app_id"]}
    probes: dict[tuple[str, str], list[dict[str, Any]]] = {
        ("POST", "/v1/workflows/{workflow_id}/run"): [
            {"workflow": True, "path": {"workflow_id": b["workflow_id"]}, "json": {"inputs": {"name": "x"}, **user}}
        ],
        ("GET", "/v1/workflows/run/{workflow_run_id}"): [
            {"workflow": True, "path": {"workflow_run_id": b["workflow_run_id"]}},
            {"path": {"workflow_run_id": b["chat_run_id"]}},
        ],
        ("POST", "/v1/workflows/tasks/{task_id}/stop"): [
            {"workflow": True, "path": {"task_id": b["task_id"]}, "json": user}
        ],
        ("GET", "/v1/workflow/{workflow_run_id}/events"): [
            {"workflow": True, "path": {"workflow_run_id": b["workflow_run_id"]}, "params": user}
        ],
        ("POST", "/v1/chat-messages/{task_id}/stop"): [{"path": {"task_id": b["task_id"]}, "json": user}],
        ("POST", "/v1/completion-messages/{task_id}/stop"): [{"path": {"task_id": b["task_id"]}, "json": user}],
        ("POST", "/v1/conversations/{conversation_id}/name"): [
            {"path": {"conversation_id": b["conversation_id"]}, "json": {**user, "name": "pwned"}}
        ],
        ("DELETE", "/v1/conversations/{conversation_id}"): [
            {"path": {"conversation_id": b["conversation_id"]}, "json": user}
        ],
        ("GET", "/v1/conversations/{conversation_id}/variables"): [
            {"path": {"conversation_id": b["conversation_id"]}, "params": user}
        ],
        ("GET", "/v1/end-users/{end_user_id}"): [{"path": {"end_user_id": b["end_user_id"]}}],
        ("POST", "/v1/messages/{message_id}/feedbacks"): [
            {"path": {"message_id": b["message_id"]}, "json": {**user, "rating": "like"}}
        ],
        ("GET", "/v1/files/{file_id}/preview"): [{"path": {"file_id": b["file_id"]}}],
        # Signed links: a link signed for one of A's files does not open B's.
        ("GET", "/files/{file_id}/file-preview"): [
            {"path": {"file_id": b["file_id"]}, "params": _link_query(links, mine)}
        ],
        ("GET", "/v1/messages/{message_id}/suggested"): [{"path": {"message_id": b["message_id"]}, "params": user}],
        ("PUT", "/v1/apps/annotations/{annotation_id}"): [
            {"path": {"annotation_id": b["annotation_id"]}, "json": body}
        ],
        ("DELETE", "/v1/apps/annotations/{annotation_id}"): [{"path": {"annotation_id": b["annotation_id"]}}],
        ("GET", "/v1/apps/annotation-reply/{action}/status/{job_id}"): [
            {"path": {"action": "enable", "job_id": b["job_id"]}}
        ],
        # Ids in the query or the body.
        ("GET", "/v1/messages"): [{"params": {**user, "conversation_id": b["conversation_id"]}}],
        ("GET", "/v1/conversations"): [{"params": {**user, "last_id": b["conversation_id"]}}],
        ("POST", "/v1/chat-messages"): [
            {"json": {"query": "go on", "inputs": {}, **user, "conversation_id": b["conversation_id"]}},
            {
                "json": {
                    "query": "go on",
                    "inputs": {},
                    **user,
                    "conversation_id": b["conversation_id"],
                    "response_mode": "streaming",
                }
            },
        ],
        ("POST", "/v1/text-to-audio"): [{"json": {**user, "message_id": b["message_id"]}}],
        ("DELETE", "/console/api/apps/{app_id}/api-keys/{key_id}"): [
            {"path": {**a_app, "key_id": b["key_id"]}},
            {"path": {"app_id": b["app_id"], "key_id": b["key_id"]}},
        ],
        ("PUT", "/console/api/apps/{app_id}/annotations/{annotation_id}"): [
            {"path": {**a_app, "annotation_id": b["annotation_id"]}, "json": body}
        ],
        ("POST", "/console/api/apps/{app_id}/annotations/{annotation_id}"): [
            {"path": {**a_app, "annotation_id": b["annotation_id"]}, "json": body}
        ],
        ("DELETE", "/console/api/apps/{app_id}/annotations/{annotation_id}"): [
            {"path": {**a_app, "annotation_id": b["annotation_id"]}}
        ],
        ("GET", "/console/api/apps/{app_id}/annotations/{annotation_id}/hit-histories"): [
            {"path": {**a_app, "annotation_id": b["annotation_id"]}}
        ],
        ("GET", "/console/api/apps/{app_id}/annotation-reply/{action}/status/{job_id}"): [
            {"path": {**a_app, "action": "enable", "job_id": b["job_id"]}}
        ],
        ("POST", "/console/api/apps/{app_id}/annotation-settings/{setting_id}"): [
            {"path": {**a_app, "setting_id": b["setting_id"]}, "json": {"score_threshold": 0.1}}
        ],
        ("POST", "/console/api/apps/{app_id}/annotations"): [
            {"path": a_app, "json": {"message_id": b["message_id"], "answer": "a"}}
        ],
        ("GET", "/console/api/apps/{app_id}/chat-messages"): [
            {"path": a_app, "params": {"conversation_id": b["conversation_id"]}}
        ],
        ("GET", "/console/api/apps/{app_id}/workflow-runs"): [
            {"path": a_workflow, "params": {"last_id": b["workflow_run_id"]}}
        ],
        ("GET", "/console/api/apps/{app_id}/workflow-runs/{run_id}"): [
            {"path": {**a_workflow, "run_id": b["workflow_run_id"]}}
        ],
        ("GET", "/console/api/apps/{app_id}/workflow-runs/{run_id}/node-executions"): [
            {"path": {**a_workflow, "run_id": b["workflow_run_id"]}}
        ],
        ("GET", "/console/api/workspaces/current/tool-provider/mcp/tools/{provider_id}"): [
            {"path": {"provider_id": b["mcp_provider_id"]}}
        ],
    }
    return probes | knowledge_probes(routes, mine.ids, theirs.ids)


def _json(response: httpx.Response) -> Any:
    return response.json() if response.content else None


def _link_query(links: FileLinks, tenant: Tenant) -> dict[str, str]:
    url = links.url(tenant.ids["file_id"])
    return dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


async def test_every_route_reads_another_tenants_ids_as_missing(
    client: httpx.AsyncClient, plait: Plait, tenants: tuple[Tenant, Tenant, str]
) -> None:
    mine, theirs, session = tenants
    console = {"Authorization": f"Bearer {session}"}
    document = (await client.get("/openapi.json")).json()
    routes = [(method.upper(), path) for path, item in document["paths"].items() for method in item]
    probes = _probes(mine, theirs, routes, plait.file_links)
    filler = {name: new_id() for name in ("key_id", "annotation_id", "job_id", "setting_id", "run_id")} | {
        "action": "enable"
    }
    unprobed = []
    sent: list[tuple[str, str, httpx.Response, httpx.Response | None]] = []
    for method, path in routes:
        if "{" not in path or (method, path) in NOT_TENANT_IDS | NOT_YET_PROBED:
            continue
        if path.startswith("/console/api/apps/{app_id}"):
            # B's app in the path: refused before anything else is looked at, whatever the rest.
            for app_id in (theirs.ids["app_id"], theirs.ids["workflow_app_id"]):  # B's apps, of either mode
                url = _fill(path, {**filler, "app_id": app_id})
                route = f"{method} {path}"
                response = await client.request(
                    method, url, headers=console, params=QUERIES.get(route), json=BODIES.get(route)
                )
                sent.append((method, path, response, None))
        elif (method, path) not in probes:
            unprobed.append(f"{method} {path}")
    assert unprobed == [], "routes with ids but no isolation probe: " + ", ".join(unprobed)

    for (method, path), requests in probes.items():
        for request in requests:
            if request.get("auth") == "dataset" and path.startswith("/v1"):
                headers = mine.knowledge_auth
            elif path.startswith("/v1"):
                headers = (mine.workflow if request.get("workflow") else mine.chat).auth
            else:
                headers = console
            values = request.get("path", {})
            response = await client.request(
                method,
                _fill(path, values),
                headers=headers,
                params=request.get("params"),
                json=request.get("json"),
                files=request.get("files"),
                data=request.get("data"),
            )
            unknown = None
            if (method, path) in SAME_AS_UNKNOWN:
                fresh = {
                    name: new_id() if name not in ("app_id", "action") else value for name, value in values.items()
                }
                unknown = await client.request(
                    method, _fill(path, fresh), headers=headers, params=request.get("params"), json=request.get("json")
                )
            elif "unknown_json" in request:  # B's id in the body: answered as an unknown id is
                unknown = await client.request(
                    method, _fill(path, values), headers=headers, json=request["unknown_json"]
                )
            sent.append((method, path, response, unknown))

    for kind, url, params in empty_list_probes(theirs.ids):
        headers = mine.knowledge_auth if kind == "dataset" else console
        response = await client.get(url, headers=headers, params=params)
        listed = response.json()
        assert (response.status_code, listed["data"], listed["total"]) == (200, [], 0), f"{url} {params}: {listed}"

    leaked = set(theirs.ids.values()) - {""} | {SECRET, SECRET_ANSWER, KNOWLEDGE_SECRET, "Their secret", "secret-tag"}
    for method, _path, response, unknown in sent:
        where = f"{method} {response.request.url}: {response.status_code} {response.text[:200]}"
        if unknown is not None:
            assert (response.status_code, _json(response)) == (unknown.status_code, _json(unknown)), where
        else:
            assert response.status_code in (403, 404), where
        # B's words, or B's ids other than the one this request named, would be a leak.
        asked = str(response.request.url) + response.request.read().decode(errors="replace")
        assert not {value for value in leaked if value in response.text and value not in asked}, where

    # Nothing of B's changed.
    b = theirs.ids
    listed = (await client.get("/v1/conversations", headers=theirs.chat.auth, params={"user": "alice"})).json()
    assert [item["name"] for item in listed["data"]] == [SECRET]
    annotations = (await client.get("/v1/apps/annotations", headers=theirs.chat.auth)).json()["data"]
    assert [(item["id"], item["answer"]) for item in annotations] == [(b["annotation_id"], SECRET_ANSWER)]
    theirs_app = await plait.apps.get(theirs.chat.workspace_id, b["app_id"])
    setting = await plait.annotations.setting(theirs_app)
    assert setting is not None
    assert setting.score_threshold == REPLY["score_threshold"]
    assert (await client.get("/v1/app/feedbacks", headers=theirs.chat.auth)).json()["data"] == []
    assert len(await plait.keys.of_app(theirs.chat.workspace_id, b["app_id"])) == 2
    assert (await client.get("/v1/info", headers=theirs.chat.auth)).status_code == 200
    # And A's lists hold nothing of B's.
    assert (await client.get("/v1/conversations", headers=mine.chat.auth, params={"user": "bob"})).json()["data"] == []
    runs = (await client.get(f"/console/api/apps/{mine.ids['workflow_app_id']}/workflow-runs", headers=console)).json()[
        "data"
    ]
    assert [item["id"] for item in runs] == [mine.ids["workflow_run_id"]]

    # Nor anything of B's knowledge.
    knowledge = theirs.knowledge_auth
    datasets = (await client.get("/v1/datasets", headers=knowledge)).json()["data"]
    assert sorted(d["name"] for d in datasets) == ["Their secret handbook", "Their secret tree"]
    assert [t["name"] for t in next(d for d in datasets if d["id"] == b["dataset_id"])["tags"]] == ["secret-tag"]
    text = f"/v1/datasets/{b['dataset_id']}"
    assert (await client.get(text, headers=knowledge)).json()["description"] is None
    documents = (await client.get(f"{text}/documents", headers=knowledge)).json()["data"]
    assert [(d["id"], d["name"], d["display_status"]) for d in documents] == [
        (b["document_id"], "secret.txt", "available")
    ]
    segments = (await client.get(f"{text}/documents/{b['document_id']}/segments", headers=knowledge)).json()["data"]
    assert [(s["id"], s["content"], s["enabled"]) for s in segments] == [(b["segment_id"], KNOWLEDGE_SECRET, True)]
    fields = (await client.get(f"{text}/metadata", headers=knowledge)).json()["doc_metadata"]
    assert [(f["id"], f["name"]) for f in fields] == [(b["metadata_id"], "owner")]
    tree = f"/v1/datasets/{b['tree_dataset_id']}/documents/{b['tree_document_id']}/segments/{b['tree_segment_id']}"
    children = (await client.get(f"{tree}/child_chunks", headers=knowledge)).json()["data"]
    assert b["tree_child_chunk_id"] in [c["id"] for c in children]
    assert "pwned" not in str(children)
    tags = (await client.get("/v1/datasets/tags", headers=knowledge)).json()
    assert [t["name"] for t in tags] == ["secret-tag"]
