"""The Knowledge API's metadata fields and document metadata values
(``/v1/datasets/{id}/metadata...``, ``/v1/datasets/{id}/documents/metadata``, ``ds-`` keys)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from plait.api.deps import PlaitDep
from plait.api.service.knowledge_auth import DatasetKey, KeyDataset, key_actor
from plait.app.dataset_metadata import MAX_OPERATIONS, built_in_fields
from plait.storage.db.tables import DatasetMetadataField

router = APIRouter(tags=["service: knowledge"])


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FieldBody(_Open):
    type: Any = None
    name: Any = None


class RenameBody(_Open):
    name: Any = None


class ValuesBody(_Open):
    operation_data: list[Any] = Field(default_factory=list, max_length=MAX_OPERATIONS * 10)


def field_item(field: DatasetMetadataField) -> dict[str, Any]:
    return {"id": field.id, "name": field.name, "type": field.type}


@router.get("/datasets/metadata/built-in")
async def built_in(key: DatasetKey) -> dict[str, Any]:
    return {"fields": built_in_fields()}


@router.get("/datasets/{dataset_id}/metadata/built-in")
async def dataset_built_in(dataset: KeyDataset) -> dict[str, Any]:
    return {"fields": built_in_fields()}


@router.post("/datasets/{dataset_id}/metadata/built-in/{action}")
async def toggle_built_in(
    action: Literal["enable", "disable"], dataset: KeyDataset, key: DatasetKey, plait: PlaitDep
) -> dict[str, str]:
    await plait.dataset_metadata.set_built_in(dataset, key_actor(key), action == "enable")
    return {"result": "success"}


@router.post("/datasets/{dataset_id}/metadata", status_code=201)
async def create_field(body: FieldBody, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep) -> dict[str, Any]:
    field = await plait.dataset_metadata.create(dataset, key_actor(key), body.model_dump())
    return field_item(field)


@router.get("/datasets/{dataset_id}/metadata")
async def list_fields(dataset: KeyDataset, plait: PlaitDep) -> dict[str, Any]:
    return await plait.dataset_metadata.listing(dataset)


@router.patch("/datasets/{dataset_id}/metadata/{metadata_id}")
async def rename_field(
    metadata_id: str, body: RenameBody, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep
) -> dict[str, Any]:
    field = await plait.dataset_metadata.rename(dataset, key_actor(key), metadata_id, body.name)
    return field_item(field)


@router.delete("/datasets/{dataset_id}/metadata/{metadata_id}", status_code=204)
async def delete_field(metadata_id: str, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep) -> Response:
    await plait.dataset_metadata.delete(dataset, key_actor(key), metadata_id)
    return Response(status_code=204)


@router.post("/datasets/{dataset_id}/documents/metadata")
async def set_values(body: ValuesBody, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep) -> dict[str, str]:
    await plait.dataset_metadata.set_values(dataset, key_actor(key), body.operation_data)
    return {"result": "success"}
