"""Builders for the tool tests: workflow DSL documents with tool nodes, publishing them through
the console, running them through the Service API, and console sessions."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import yaml
from argon2 import PasswordHasher

from plait.app.bootstrap import Plait
from plait.storage.db.tables import Account, Membership, Workspace
from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD

APPS = "/console/api/apps"
TOOLS = "/console/api/workspaces/current"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tool_node(node_id: str, provider_type: str, provider_id: str, tool_name: str, **parameters: Any) -> dict[str, Any]:
    """A tool node; each parameter a constant, or a ``{type, value}`` given as is."""
    return {
        "id": node_id,
        "data": {
            "type": "tool",
            "title": node_id,
            "provider_id": provider_id,
            "provider_type": provider_type,
            "provider_name": provider_id,
            "tool_name": tool_name,
            "tool_configurations": {},
            "tool_parameters": {
                name: value if isinstance(value, dict) and "type" in value else {"type": "constant", "value": value}
                for name, value in parameters.items()
            },
        },
    }


def workflow(
    name: str, variables: list[str], nodes: list[dict[str, Any]], outputs: dict[str, list[str]]
) -> dict[str, Any]:
    """A workflow app: start (text inputs) -> the nodes, in a chain -> end."""
    start = {
        "id": "start",
        "data": {
            "type": "start",
            "variables": [{"variable": v, "label": v, "type": "text-input", "required": False} for v in variables],
        },
    }
    end = {
        "id": "end",
        "data": {"type": "end", "outputs": [{"variable": k, "value_selector": v} for k, v in outputs.items()]},
    }
    chain = [start, *nodes, end]
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(chain)]
    return {
        "version": "0.6.0",
        "kind": "app",
        "app": {"name": name, "mode": "workflow", "description": f"{name}, for the tool tests."},
        "workflow": {
            "environment_variables": [],
            "conversation_variables": [],
            "features": {},
            "graph": {"nodes": chain, "edges": edges},
        },
    }


async def owner_session(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/console/api/setup", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "name": "Owner"}
    )
    assert response.status_code == 201, response.text
    return await login(http, OWNER_EMAIL, OWNER_PASSWORD)


async def login(http: httpx.AsyncClient, email: str, password: str) -> str:
    response = await http.post("/console/api/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["access_token"]
    return token


async def member(plait: Plait, http: httpx.AsyncClient, email: str, role: str, workspace_id: str | None = None) -> str:
    """A console session for a new account with ``role`` in ``workspace_id`` (a new workspace if None)."""
    password = "member-passw0rd"
    async with plait.db.transaction() as session:
        if workspace_id is None:
            workspace = Workspace(name=f"{email}'s workspace")
            session.add(workspace)
            await session.flush()
            workspace_id = workspace.id
        account = Account(email=email, name=email, password_hash=PasswordHasher().hash(password))
        session.add(account)
        await session.flush()
        session.add(Membership(workspace_id=workspace_id, account_id=account.id, role=role))
    return await login(http, email, password)


async def publish(http: httpx.AsyncClient, token: str, document: dict[str, Any]) -> tuple[str, str]:
    """Import, publish and key a workflow app through the console: (app id, app key)."""
    imported = await http.post(f"{APPS}/imports", headers=auth(token), json={"yaml_content": yaml.safe_dump(document)})
    assert imported.status_code == 200, imported.text
    app_id: str = imported.json()["app_id"]
    published = await http.post(f"{APPS}/{app_id}/workflows/publish", headers=auth(token), json={})
    assert published.status_code == 200, published.text
    key = await http.post(f"{APPS}/{app_id}/api-keys", headers=auth(token))
    assert key.status_code == 201, key.text
    return app_id, key.json()["token"]


async def run(http: httpx.AsyncClient, key: str, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A blocking Service API run; its ``data``."""
    response = await http.post(
        "/v1/workflows/run",
        headers=auth(key),
        json={"inputs": inputs or {}, "user": "tester", "response_mode": "blocking"},
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data
