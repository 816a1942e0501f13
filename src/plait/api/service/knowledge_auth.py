"""Dataset-key authentication: ``Authorization: Bearer ds-...`` opens a workspace's
Knowledge API. As in Dify, changes made with the key are attributed to the workspace owner."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from plait.api.deps import PlaitDep, bearer_token
from plait.app.audit import Actor
from plait.app.keys import KeyIdentity
from plait.storage.db.tables import Dataset


async def dataset_key(request: Request, plait: PlaitDep) -> KeyIdentity:
    return await plait.keys.authenticate(bearer_token(request), kind="dataset")


DatasetKey = Annotated[KeyIdentity, Depends(dataset_key)]


def key_actor(key: KeyIdentity) -> Actor:
    return Actor(type="api_key", id=key.key_id)


async def key_dataset(dataset_id: str, key: DatasetKey, plait: PlaitDep) -> Dataset:
    """The path's dataset: 404 outside the key's workspace, 403 with its API disabled."""
    return await plait.datasets.for_api(key.workspace_id, dataset_id)


KeyDataset = Annotated[Dataset, Depends(key_dataset)]
