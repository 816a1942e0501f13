"""The console's apps API, as automation drives it: create, import, export, draft, publish,
versions, keys, delete; and who may do what."""

from __future__ import annotations

import json
from typing import Any

import httpx
import yaml
from argon2 import PasswordHasher

from plait.app.bootstrap import Plait
from plait.storage.db.tables import Account, Membership

from .test_service_workflows import WORKFLOW_APP, assert_envelope

APPS = "/console/api/apps"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_create_list_and_search(client: httpx.AsyncClient, owner_token: str) -> None:
    for name in ("Alpha", "Beta"):
        created = await client.post(APPS, headers=auth(owner_token), json={"name": name, "mode": "workflow"})
        assert created.status_code == 201, created.text
        assert created.json()["mode"] == "workflow"
    listed = (await client.get(APPS, headers=auth(owner_token))).json()
    assert listed["total"] == 2
    assert {item["name"] for item in listed["data"]} == {"Alpha", "Beta"}
    found = (await client.get(APPS, headers=auth(owner_token), params={"name": "alp"})).json()
    assert [item["name"] for item in found["data"]] == ["Alpha"]
    bad = await client.post(APPS, headers=auth(owner_token), json={"name": "X", "mode": "spreadsheet"})
    assert_envelope(bad, 400, "invalid_param")


async def test_import_draft_publish_and_run(client: httpx.AsyncClient, owner_token: str) -> None:
    imported = await client.post(
        f"{APPS}/imports", headers=auth(owner_token), json={"yaml_content": yaml.safe_dump(WORKFLOW_APP)}
    )
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert body["status"] == "completed"
    app_id = body["app_id"]
    exported = yaml.safe_load((await client.get(f"{APPS}/{app_id}/export", headers=auth(owner_token))).json()["data"])
    assert exported["app"]["name"] == "Greeter"
    workflow: dict[str, Any] = json.loads(json.dumps(exported["workflow"]))
    workflow["graph"]["nodes"][1]["data"]["template"] = "Hi {{ name }}"
    saved = await client.post(f"{APPS}/{app_id}/workflows/draft", headers=auth(owner_token), json=workflow)
    assert saved.json()["result"] == "success"
    published = await client.post(
        f"{APPS}/{app_id}/workflows/publish", headers=auth(owner_token), json={"marked_name": "v1"}
    )
    assert published.status_code == 200, published.text
    versions = (await client.get(f"{APPS}/{app_id}/workflows", headers=auth(owner_token))).json()["items"]
    assert [item["marked_name"] for item in versions] == ["v1", ""]
    assert versions[-1]["version"] == "draft"
    key = (await client.post(f"{APPS}/{app_id}/api-keys", headers=auth(owner_token))).json()
    assert key["token"].startswith("app-")
    run = await client.post(
        "/v1/workflows/run",
        headers={"Authorization": f"Bearer {key['token']}"},
        json={"inputs": {"name": "Bo"}, "user": "u"},
    )
    assert run.json()["data"]["outputs"] == {"greeting": "Hi Bo"}
    listed = (await client.get(f"{APPS}/{app_id}/api-keys", headers=auth(owner_token))).json()["data"]
    assert [item["token"] for item in listed] == [f"app-...{key['token'][-4:]}"]  # shown once, then only a hint
    revoked = await client.delete(f"{APPS}/{app_id}/api-keys/{key['id']}", headers=auth(owner_token))
    assert revoked.status_code == 204
    after = await client.get("/v1/info", headers={"Authorization": f"Bearer {key['token']}"})
    assert_envelope(after, 401, "unauthorized")


async def test_publishing_a_broken_draft_is_refused_with_its_path(client: httpx.AsyncClient, owner_token: str) -> None:
    imported = await client.post(
        f"{APPS}/imports", headers=auth(owner_token), json={"yaml_content": yaml.safe_dump(WORKFLOW_APP)}
    )
    app_id = imported.json()["app_id"]
    broken = json.loads(json.dumps(WORKFLOW_APP["workflow"]))
    broken["graph"]["nodes"][1]["data"]["type"] = "teleport"
    await client.post(f"{APPS}/{app_id}/workflows/draft", headers=auth(owner_token), json=broken)
    refused = await client.post(f"{APPS}/{app_id}/workflows/publish", headers=auth(owner_token), json={})
    body = assert_envelope(refused, 400, "invalid_dsl")
    assert "nodes[1].data.type" in body["message"]


async def test_a_bad_import_is_refused(client: httpx.AsyncClient, owner_token: str) -> None:
    refused = await client.post(
        f"{APPS}/imports", headers=auth(owner_token), json={"yaml_content": "version: 0.6\nkind: app\n"}
    )
    assert_envelope(refused, 400, "invalid_dsl")


async def test_delete_takes_everything_with_it(client: httpx.AsyncClient, owner_token: str) -> None:
    app_id = (
        await client.post(
            f"{APPS}/imports", headers=auth(owner_token), json={"yaml_content": yaml.safe_dump(WORKFLOW_APP)}
        )
    ).json()["app_id"]
    await client.post(f"{APPS}/{app_id}/workflows/publish", headers=auth(owner_token), json={})
    key = (await client.post(f"{APPS}/{app_id}/api-keys", headers=auth(owner_token))).json()["token"]
    await client.post(
        "/v1/workflows/run", headers={"Authorization": f"Bearer {key}"}, json={"inputs": {"name": "x"}, "user": "u"}
    )
    assert (await client.delete(f"{APPS}/{app_id}", headers=auth(owner_token))).status_code == 204
    assert_envelope(await client.get(f"{APPS}/{app_id}", headers=auth(owner_token)), 404, "not_found")
    assert_envelope(await client.get("/v1/info", headers={"Authorization": f"Bearer {key}"}), 401, "unauthorized")


async def test_members_without_an_editing_role_can_only_read(
    client: httpx.AsyncClient, owner_token: str, plait: Plait
) -> None:
    owner = (await client.get("/console/api/workspaces/current", headers=auth(owner_token))).json()
    async with plait.db.transaction() as session:
        reader = Account(
            email="reader@example.com", name="Reader", password_hash=PasswordHasher().hash("reader-passw0rd")
        )
        session.add(reader)
        await session.flush()
        session.add(Membership(workspace_id=owner["id"], account_id=reader.id, role="normal"))
    login = await client.post("/console/api/login", json={"email": "reader@example.com", "password": "reader-passw0rd"})
    token = login.json()["data"]["access_token"]
    assert (await client.get(APPS, headers=auth(token))).status_code == 200
    refused = await client.post(APPS, headers=auth(token), json={"name": "Mine", "mode": "workflow"})
    assert_envelope(refused, 403, "forbidden")
    assert_envelope(await client.get(APPS), 401, "unauthorized")
