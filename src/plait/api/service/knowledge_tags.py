"""The Knowledge API's tags (``/v1/datasets/tags...``, ``ds-`` keys): workspace-level
tags of type ``knowledge`` and their bindings to datasets.

Registered before the datasets router: ``/datasets/tags`` must not be taken for a dataset
whose id is ``tags``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from plait.api.deps import PlaitDep
from plait.api.service.knowledge_auth import DatasetKey, KeyDataset, key_actor
from plait.app.dataset_tags import TagWithCount

router = APIRouter(tags=["service: knowledge"])


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TagBody(_Open):
    name: Any = None


class TagPatch(_Open):
    tag_id: Any = None
    name: Any = None


class TagRef(_Open):
    tag_id: Any = None


class BindingBody(_Open):
    tag_ids: list[str] = Field(default_factory=list, max_length=1000)
    target_id: str | None = Field(default=None, max_length=64)


class UnbindingBody(_Open):
    # Dify took one ``tag_id``; later versions take ``tag_ids``. Both are accepted.
    tag_id: str | None = Field(default=None, max_length=64)
    tag_ids: list[str] | None = Field(default=None, max_length=1000)
    target_id: str | None = Field(default=None, max_length=64)


def tag_item(found: TagWithCount) -> dict[str, Any]:
    # Dify writes binding_count as a string.
    return {
        "id": found.tag.id,
        "name": found.tag.name,
        "type": found.tag.type,
        "binding_count": str(found.binding_count),
    }


@router.get("/datasets/tags")
async def list_tags(key: DatasetKey, plait: PlaitDep) -> list[dict[str, Any]]:
    return [tag_item(t) for t in await plait.dataset_tags.of_workspace(key.workspace_id)]


@router.post("/datasets/tags")
async def create_tag(body: TagBody, key: DatasetKey, plait: PlaitDep) -> dict[str, Any]:
    return tag_item(await plait.dataset_tags.create(key.workspace_id, key_actor(key), body.name))


@router.patch("/datasets/tags")
async def update_tag(body: TagPatch, key: DatasetKey, plait: PlaitDep) -> dict[str, Any]:
    return tag_item(await plait.dataset_tags.update(key.workspace_id, key_actor(key), body.tag_id, body.name))


@router.delete("/datasets/tags", status_code=204)
async def delete_tag(body: TagRef, key: DatasetKey, plait: PlaitDep) -> Response:
    await plait.dataset_tags.delete(key.workspace_id, key_actor(key), body.tag_id)
    return Response(status_code=204)


@router.post("/datasets/tags/binding", status_code=204)
async def bind_tags(body: BindingBody, key: DatasetKey, plait: PlaitDep) -> Response:
    await plait.dataset_tags.bind(key.workspace_id, key_actor(key), body.tag_ids, body.target_id)
    return Response(status_code=204)


@router.post("/datasets/tags/unbinding", status_code=204)
async def unbind_tags(body: UnbindingBody, key: DatasetKey, plait: PlaitDep) -> Response:
    tag_ids = list(body.tag_ids or []) + ([body.tag_id] if body.tag_id is not None else [])
    await plait.dataset_tags.unbind(key.workspace_id, key_actor(key), tag_ids, body.target_id)
    return Response(status_code=204)


@router.get("/datasets/{dataset_id}/tags")
async def dataset_tags(dataset: KeyDataset, plait: PlaitDep) -> dict[str, Any]:
    tags = await plait.dataset_tags.of_target(dataset.workspace_id, dataset.id)
    return {"data": tags, "total": len(tags)}
