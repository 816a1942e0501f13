"""Helpers for Knowledge API tests: a workspace with a ``ds-`` key, and waiting for indexing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.storage.db.tables import Workspace


@dataclass(frozen=True)
class KnowledgeKey:
    workspace_id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def knowledge_key(plait: Plait) -> KnowledgeKey:
    """The owner's workspace (set up on first call) with a new ``ds-`` key."""
    async with plait.db.reader() as session:
        workspace_id = (await session.execute(select(Workspace.id).limit(1))).scalar_one_or_none()
    if workspace_id is None:
        setup = await plait.accounts.setup(
            email="k@example.com", password="passw0rd-long", name="Kim", workspace_name=None, actor=CLI
        )
        workspace_id = setup.workspace_id
    created = await plait.keys.create(workspace_id, CLI, kind="dataset")
    return KnowledgeKey(workspace_id, created.token)


async def other_workspace_key(plait: Plait) -> KnowledgeKey:
    """A second workspace (Plait has one owner; more workspaces come from the console) with a key."""
    async with plait.db.transaction() as session:
        workspace = Workspace(name="Other")
        session.add(workspace)
    created = await plait.keys.create(workspace.id, CLI, kind="dataset")
    return KnowledgeKey(workspace.id, created.token)


async def create_dataset(client: httpx.AsyncClient, key: KnowledgeKey, name: str = "Handbook", **body: Any) -> str:
    response = await client.post("/v1/datasets", headers=key.auth, json={"name": name, **body})
    assert response.status_code == 200, response.text
    dataset_id: str = response.json()["id"]
    return dataset_id


async def add_text(
    client: httpx.AsyncClient, key: KnowledgeKey, dataset_id: str, name: str, text: str, **body: Any
) -> dict[str, Any]:
    payload = {"name": name, "text": text, "indexing_technique": "high_quality", **body}
    response = await client.post(f"/v1/datasets/{dataset_id}/document/create-by-text", headers=key.auth, json=payload)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def wait_indexed(
    client: httpx.AsyncClient, key: KnowledgeKey, dataset_id: str, batch: str, *, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Poll the batch's indexing status until every document is completed or failed; returns
    the statuses seen, in order, for the first document."""
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await client.get(f"/v1/datasets/{dataset_id}/documents/{batch}/indexing-status", headers=key.auth)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        seen.append(data[0])
        if all(item["indexing_status"] in ("completed", "error") for item in data):
            return seen
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"batch {batch} did not finish indexing: {data}")
        await asyncio.sleep(0.02)
