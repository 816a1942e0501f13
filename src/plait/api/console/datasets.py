"""Knowledge bases in the console (``/console/api/datasets...``): datasets, their documents
(from uploaded files or web pages, several in one batch), indexing progress, segments,
hit testing, the chunk preview, and the workspace's ``ds-`` keys.

The use-cases and shapes are the Knowledge API's; what differs is who asks. A console
session reads; changing needs a role that may edit knowledge (owner, admin, editor, and
Dify's knowledge-only ``dataset_operator``); the workspace's API keys are the owner's and
admins'. The console works on a dataset whatever its ``enable_api``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from plait.api.console.apps import key_item
from plait.api.deps import ConsoleAdmin, ConsoleUser, PlaitDep, RequestId
from plait.api.knowledge_shapes import dataset_item, document_item, indexing_status_item, segment_item
from plait.api.paging import numbered_page
from plait.api.service.datasets import (
    DatasetBody,
    DatasetPatch,
    RetrieveBody,
    dataset_page,
    document_detail_of,
    retrieval_record,
)
from plait.app.accounts import ConsoleIdentity
from plait.app.bootstrap import Plait
from plait.app.datasets import Viewer
from plait.app.knowledge_documents import DocumentSource
from plait.app.knowledge_uploads import MAX_SOURCES_PER_REQUEST, url_sources
from plait.errors import Forbidden, InvalidInput
from plait.storage.db.tables import Dataset

router = APIRouter(tags=["console: knowledge"])

DATASET_EDITOR_ROLES = ("owner", "admin", "editor", "dataset_operator")
MAX_STATUS_DOCUMENTS = 1000  # as the Knowledge API's status body


async def dataset_editor(user: ConsoleUser) -> ConsoleIdentity:
    """A console user allowed to change knowledge bases (Dify's ``is_dataset_editor``)."""
    if user.role not in DATASET_EDITOR_ROLES:
        raise Forbidden("Your role in this workspace cannot change knowledge bases.")
    return user


DatasetEditor = Annotated[ConsoleIdentity, Depends(dataset_editor)]


def viewer(user: ConsoleIdentity) -> Viewer:
    return Viewer(user.account_id, user.role)


async def console_dataset(dataset_id: str, user: ConsoleUser, plait: PlaitDep) -> Dataset:
    """The path's dataset: 404 outside the session's workspace, 403 when the dataset's
    permission does not include the session's account."""
    return await plait.datasets.get(user.workspace_id, dataset_id, viewer=viewer(user))


ConsoleDataset = Annotated[Dataset, Depends(console_dataset)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FileInfoList(_Open):
    file_ids: list[str] = Field(default_factory=list, max_length=MAX_SOURCES_PER_REQUEST)


class WebsiteInfoList(_Open):
    urls: list[str] = Field(default_factory=list, max_length=MAX_SOURCES_PER_REQUEST)


class InfoList(_Open):
    data_source_type: str = Field(default="upload_file", max_length=32)
    file_info_list: FileInfoList | None = None
    website_info_list: WebsiteInfoList | None = None


class DataSource(_Open):
    type: Literal["upload_file", "website_crawl", "url"]
    info_list: InfoList | None = None
    urls: list[str] | None = Field(default=None, max_length=MAX_SOURCES_PER_REQUEST)


class DocumentsBody(_Open):
    data_source: DataSource
    indexing_technique: Literal["high_quality", "economy"] | None = None
    doc_form: Literal["text_model", "hierarchical_model", "qa_model"] | None = None
    doc_language: str | None = Field(default=None, max_length=64)
    process_rule: dict[str, Any] | None = None
    retrieval_model: dict[str, Any] | None = None
    embedding_model: str | None = Field(default=None, max_length=255)
    embedding_model_provider: str | None = Field(default=None, max_length=255)


class EstimateBody(_Open):
    info_list: InfoList
    process_rule: dict[str, Any] | None = None
    doc_form: Literal["text_model", "hierarchical_model", "qa_model"] | None = None
    doc_language: str | None = Field(default=None, max_length=64)


# -- API keys (before /datasets/{dataset_id}, which would take "api-keys" for an id) ---------


@router.get("/datasets/api-keys")
async def list_keys(user: ConsoleAdmin, plait: PlaitDep) -> dict[str, Any]:
    return {"data": [key_item(key) for key in await plait.keys.of_datasets(user.workspace_id)]}


@router.post("/datasets/api-keys")
async def create_key(user: ConsoleAdmin, plait: PlaitDep, request_id: RequestId) -> dict[str, Any]:
    created = await plait.keys.create(user.workspace_id, user.actor(request_id), kind="dataset")
    keys = {key.id: key for key in await plait.keys.of_datasets(user.workspace_id)}
    return key_item(keys[created.id], created.token)


@router.delete("/datasets/api-keys/{api_key_id}", status_code=204)
async def revoke_key(api_key_id: str, user: ConsoleAdmin, plait: PlaitDep, request_id: RequestId) -> Response:
    await plait.keys.revoke(user.workspace_id, user.actor(request_id), api_key_id, kind="dataset")
    return Response(status_code=204)


# -- the chunk preview ---------------------------------------------------------------------


@router.post("/datasets/indexing-estimate")
async def indexing_estimate(body: EstimateBody, user: DatasetEditor, plait: PlaitDep) -> dict[str, Any]:
    if body.info_list.data_source_type != "upload_file" or body.info_list.file_info_list is None:
        raise InvalidInput("Only uploaded files can be previewed.", params="info_list")
    estimate = await plait.indexing_estimates.estimate(
        user.workspace_id,
        body.info_list.file_info_list.file_ids,
        process_rule=body.process_rule,
        doc_form=body.doc_form,
        doc_language=body.doc_language,
    )
    reply: dict[str, Any] = {
        "total_segments": estimate.total_segments,
        "preview": [
            {"content": chunk.content, "child_chunks": [child.content for child in chunk.children] or None}
            for chunk in estimate.preview
        ],
        "qa_preview": None,
    }
    if estimate.qa_preview is not None:
        reply["qa_preview"] = [{"question": pair.content, "answer": pair.answer} for pair in estimate.qa_preview]
    return reply


# -- datasets ------------------------------------------------------------------------------


async def _dataset(plait: Plait, dataset: Dataset) -> dict[str, Any]:
    facts = await plait.datasets.facts([dataset])
    item = dataset_item(dataset, facts[dataset.id])
    item["tags"] = await plait.dataset_tags.of_target(dataset.workspace_id, dataset.id)
    item["doc_metadata"] = await plait.dataset_metadata.fields_shape(dataset)
    return item


@router.get("/datasets")
async def list_datasets(
    user: ConsoleUser,
    plait: PlaitDep,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = 20,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
    tag_ids: Annotated[list[str] | None, Query()] = None,
    ids: Annotated[list[str] | None, Query()] = None,
    include_all: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    result = await plait.datasets.page(
        user.workspace_id,
        page=page,
        limit=limit,
        keyword=keyword,
        tag_ids=tag_ids or [],
        ids=ids or None,
        viewer=viewer(user),
    )
    return await dataset_page(plait, user.workspace_id, result)


@router.post("/datasets", status_code=201)
async def create_dataset(
    body: DatasetBody, user: DatasetEditor, plait: PlaitDep, request_id: RequestId
) -> dict[str, Any]:
    dataset = await plait.datasets.create(user.workspace_id, user.actor(request_id), body.model_dump(exclude_none=True))
    return await _dataset(plait, dataset)


@router.get("/datasets/{dataset_id}")
async def get_dataset(dataset: ConsoleDataset, plait: PlaitDep) -> dict[str, Any]:
    return await _dataset(plait, dataset)


@router.patch("/datasets/{dataset_id}")
async def update_dataset(
    body: DatasetPatch, user: DatasetEditor, dataset: ConsoleDataset, plait: PlaitDep, request_id: RequestId
) -> dict[str, Any]:
    changed = await plait.datasets.update(
        user.workspace_id, user.actor(request_id), dataset.id, body.model_dump(exclude_unset=True)
    )
    return await _dataset(plait, changed)


@router.delete("/datasets/{dataset_id}", status_code=204)
async def delete_dataset(
    user: DatasetEditor, dataset: ConsoleDataset, plait: PlaitDep, request_id: RequestId
) -> Response:
    await plait.datasets.delete(user.workspace_id, user.actor(request_id), dataset.id)
    return Response(status_code=204)


# -- documents -----------------------------------------------------------------------------


@router.get("/datasets/{dataset_id}/documents")
async def list_documents(
    dataset: ConsoleDataset,
    plait: PlaitDep,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = 20,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, Any]:
    result = await plait.documents.page(dataset, page=page, limit=limit, keyword=keyword, status=status)
    return numbered_page(result, [document_item(d) for d in result.items])


async def _sources(plait: Plait, workspace_id: str, source: DataSource) -> list[DocumentSource]:
    if source.type == "url":
        return url_sources(source.urls or [])
    info = source.info_list or InfoList()
    if source.type == "website_crawl":
        return url_sources(info.website_info_list.urls if info.website_info_list else [])
    return await plait.knowledge_uploads.sources(
        workspace_id, info.file_info_list.file_ids if info.file_info_list else []
    )


@router.post("/datasets/{dataset_id}/documents")
async def create_documents(
    body: DocumentsBody, user: DatasetEditor, dataset: ConsoleDataset, plait: PlaitDep, request_id: RequestId
) -> dict[str, Any]:
    sources = await _sources(plait, user.workspace_id, body.data_source)
    fields = body.model_dump(exclude_none=True, exclude={"data_source"})
    added = await plait.knowledge_uploads.add_documents(
        dataset.id, user.workspace_id, user.actor(request_id), sources, fields
    )
    return {
        "dataset": await _dataset(plait, await plait.datasets.get(user.workspace_id, dataset.id)),
        "documents": [document_item(d) for d in added.documents],
        "batch": added.batch,
    }


@router.get("/datasets/{dataset_id}/documents/{document_id}")
async def get_document(
    document_id: str,
    dataset: ConsoleDataset,
    plait: PlaitDep,
    metadata: Annotated[Literal["all", "only", "without"], Query()] = "all",
) -> dict[str, Any]:
    document = await plait.documents.get(dataset, document_id)
    return await document_detail_of(plait, dataset, document, metadata)


@router.delete("/datasets/{dataset_id}/documents/{document_id}", status_code=204)
async def delete_document(
    document_id: str, user: DatasetEditor, dataset: ConsoleDataset, plait: PlaitDep, request_id: RequestId
) -> Response:
    await plait.documents.delete(dataset, user.actor(request_id), document_id)
    return Response(status_code=204)


@router.get("/datasets/{dataset_id}/batch/{batch}/indexing-status")
async def batch_indexing_status(batch: str, dataset: ConsoleDataset, plait: PlaitDep) -> dict[str, Any]:
    documents = await plait.documents.of_batch(dataset, batch)
    progress = await plait.indexing.progress([d.id for d in documents])
    return {"data": [indexing_status_item(d, *progress[d.id]) for d in documents]}


@router.get("/datasets/{dataset_id}/documents/{document_id}/indexing-status")
async def document_indexing_status(document_id: str, dataset: ConsoleDataset, plait: PlaitDep) -> dict[str, Any]:
    document = await plait.documents.get(dataset, document_id)
    progress = await plait.indexing.progress([document.id])
    return indexing_status_item(document, *progress[document.id])


@router.patch("/datasets/{dataset_id}/documents/status/{action}/batch")
async def document_status(
    action: Literal["enable", "disable", "archive", "un_archive"],
    user: DatasetEditor,
    dataset: ConsoleDataset,
    plait: PlaitDep,
    request_id: RequestId,
    document_id: Annotated[list[str], Query()],
) -> dict[str, str]:
    if len(document_id) > MAX_STATUS_DOCUMENTS:
        raise InvalidInput(f"at most {MAX_STATUS_DOCUMENTS} document_id per request", params="document_id")
    await plait.documents.set_status(dataset, user.actor(request_id), action, document_id)
    return {"result": "success"}


@router.get("/datasets/{dataset_id}/documents/{document_id}/segments")
async def list_segments(
    document_id: str,
    dataset: ConsoleDataset,
    plait: PlaitDep,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = 20,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    result = await plait.segments.page(
        dataset, document_id, page=page, limit=limit, status=status or [], keyword=keyword
    )
    numbered = result.page
    return {
        "data": [segment_item(s, children=result.children.get(s.id, [])) for s in numbered.items],
        "doc_form": result.doc_form,
        "has_more": numbered.has_more,
        "limit": numbered.limit,
        "total": numbered.total,
        "total_pages": -(-numbered.total // numbered.limit),
        "page": numbered.page,
    }


# -- hit testing ---------------------------------------------------------------------------


@router.post("/datasets/{dataset_id}/hit-testing")
async def hit_testing(body: RetrieveBody, dataset: ConsoleDataset, plait: PlaitDep) -> dict[str, Any]:
    hits = await plait.retrieval.hit_test(dataset, body.query, body.retrieval_model)
    await plait.documents.mark_hits([hit.segment.id for hit in hits])
    return {"query": {"content": body.query}, "records": [retrieval_record(hit) for hit in hits]}
