"""The Knowledge API's segments and child chunks
(``/v1/datasets/{id}/documents/{doc}/segments...``, ``ds-`` keys)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from plait.api.deps import PlaitDep
from plait.api.knowledge_shapes import child_chunk_item, segment_item
from plait.api.service.knowledge_auth import DatasetKey, KeyDataset, key_actor
from plait.app.knowledge_segments import MAX_SEGMENTS_PER_REQUEST, SegmentsOf

router = APIRouter(tags=["service: knowledge"])
SEGMENTS = "/datasets/{dataset_id}/documents/{document_id}/segments"
CHILDREN = SEGMENTS + "/{segment_id}/child_chunks"
MAX_CONTENT = 1_000_000


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SegmentDraft(_Open):
    content: str | None = Field(default=None, max_length=MAX_CONTENT)
    answer: str | None = Field(default=None, max_length=MAX_CONTENT)
    keywords: list[str] | None = Field(default=None, max_length=100)


class SegmentsBody(_Open):
    # The cap is checked by the app (Dify's message); this bound only keeps parsing cheap.
    segments: list[SegmentDraft] | None = Field(default=None, max_length=MAX_SEGMENTS_PER_REQUEST * 10)


class SegmentChange(_Open):
    content: str | None = Field(default=None, max_length=MAX_CONTENT)
    answer: str | None = Field(default=None, max_length=MAX_CONTENT)
    keywords: list[str] | None = Field(default=None, max_length=100)
    enabled: bool | None = None
    regenerate_child_chunks: bool | None = None


class SegmentUpdateBody(_Open):
    segment: SegmentChange


class ChildChunkBody(_Open):
    content: str = Field(max_length=MAX_CONTENT)


def _segments(found: SegmentsOf) -> list[dict[str, Any]]:
    return [segment_item(s, children=found.children.get(s.id, [])) for s in found.segments]


@router.post(SEGMENTS)
async def create_segments(
    document_id: str, body: SegmentsBody, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep
) -> dict[str, Any]:
    drafts = [s.model_dump(exclude_none=True) for s in body.segments or []]
    found = await plait.segments.create(dataset, key_actor(key), document_id, drafts)
    return {"data": _segments(found), "doc_form": found.doc_form}


@router.get(SEGMENTS)
async def list_segments(
    document_id: str,
    dataset: KeyDataset,
    plait: PlaitDep,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = 20,
    status: Annotated[list[str] | None, Query(max_length=10)] = None,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    found = await plait.segments.page(
        dataset, document_id, page=page, limit=limit, status=status or [], keyword=keyword
    )
    result = found.page
    return {
        "data": [segment_item(s, children=found.children.get(s.id, [])) for s in result.items],
        "doc_form": found.doc_form,
        "total": result.total,
        "has_more": result.has_more,
        "limit": result.limit,
        "page": result.page,
    }


@router.get(SEGMENTS + "/{segment_id}")
async def get_segment(document_id: str, segment_id: str, dataset: KeyDataset, plait: PlaitDep) -> dict[str, Any]:
    found = await plait.segments.get(dataset, document_id, segment_id)
    return {"data": _segments(found)[0], "doc_form": found.doc_form}


@router.post(SEGMENTS + "/{segment_id}")
@router.patch(SEGMENTS + "/{segment_id}", include_in_schema=False)
async def update_segment(
    document_id: str, segment_id: str, body: SegmentUpdateBody, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep
) -> dict[str, Any]:
    change = body.segment.model_dump(exclude_unset=True)
    found = await plait.segments.update(dataset, key_actor(key), document_id, segment_id, change)
    return {"data": _segments(found)[0], "doc_form": found.doc_form}


@router.delete(SEGMENTS + "/{segment_id}", status_code=204)
async def delete_segment(
    document_id: str, segment_id: str, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep
) -> Response:
    await plait.segments.delete(dataset, key_actor(key), document_id, segment_id)
    return Response(status_code=204)


@router.post(CHILDREN)
async def create_child_chunk(
    document_id: str, segment_id: str, body: ChildChunkBody, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep
) -> dict[str, Any]:
    child = await plait.segments.create_child(dataset, key_actor(key), document_id, segment_id, body.content)
    return {"data": child_chunk_item(child)}


@router.get(CHILDREN)
async def list_child_chunks(
    document_id: str,
    segment_id: str,
    dataset: KeyDataset,
    plait: PlaitDep,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = 20,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    # Dify caps the limit at 100 instead of refusing a larger one.
    result = await plait.segments.children_page(
        dataset, document_id, segment_id, page=page, limit=min(limit, 100), keyword=keyword
    )
    return {
        "data": [child_chunk_item(c) for c in result.items],
        "total": result.total,
        "total_pages": math.ceil(result.total / result.limit) if result.total else 0,
        "page": result.page,
        "limit": result.limit,
    }


@router.patch(CHILDREN + "/{child_chunk_id}")
async def update_child_chunk(
    document_id: str,
    segment_id: str,
    child_chunk_id: str,
    body: ChildChunkBody,
    dataset: KeyDataset,
    key: DatasetKey,
    plait: PlaitDep,
) -> dict[str, Any]:
    child = await plait.segments.update_child(
        dataset, key_actor(key), document_id, segment_id, child_chunk_id, body.content
    )
    return {"data": child_chunk_item(child)}


@router.delete(CHILDREN + "/{child_chunk_id}", status_code=204)
async def delete_child_chunk(
    document_id: str, segment_id: str, child_chunk_id: str, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep
) -> Response:
    await plait.segments.delete_child(dataset, key_actor(key), document_id, segment_id, child_chunk_id)
    return Response(status_code=204)
