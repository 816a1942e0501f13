"""The Knowledge API's datasets, documents and retrieval (``/v1/datasets...``, ``ds-`` keys)."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile as StarletteUpload

from plait.api.deps import PlaitDep
from plait.api.knowledge_shapes import (
    dataset_item,
    document_detail,
    document_item,
    indexing_status_item,
    segment_item,
)
from plait.api.nul_characters import MESSAGE as NUL_MESSAGE
from plait.api.paging import numbered_page
from plait.api.service.knowledge_auth import DatasetKey, KeyDataset, key_actor
from plait.app.annotations import NumberedPage
from plait.app.bootstrap import Plait
from plait.app.knowledge_documents import MAX_TEXT_CHARS, Created, DocumentSource
from plait.app.knowledge_retrieval import RetrievedSegment
from plait.errors import BadRequest, InvalidInput, PayloadTooLarge
from plait.storage.db.tables import Dataset, Document

router = APIRouter(tags=["service: knowledge"])
CHUNK = 1024 * 1024


class _Open(BaseModel):
    # Dify's bodies carry more optional fields than Plait reads; they are accepted.
    model_config = ConfigDict(extra="allow")


class DatasetBody(_Open):
    name: str = Field(max_length=255)
    description: str | None = Field(default=None, max_length=400)
    indexing_technique: Literal["high_quality", "economy"] | None = None
    permission: Literal["only_me", "all_team_members", "partial_members"] | None = None
    partial_member_list: list[dict[str, Any] | str] | None = Field(default=None, max_length=1000)
    provider: str | None = None
    embedding_model: str | None = Field(default=None, max_length=255)
    embedding_model_provider: str | None = Field(default=None, max_length=255)
    retrieval_model: dict[str, Any] | None = None


class DatasetPatch(_Open):
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=400)
    indexing_technique: Literal["high_quality", "economy"] | None = None
    permission: Literal["only_me", "all_team_members", "partial_members"] | None = None
    partial_member_list: list[dict[str, Any] | str] | None = Field(default=None, max_length=1000)
    embedding_model: str | None = Field(default=None, max_length=255)
    embedding_model_provider: str | None = Field(default=None, max_length=255)
    retrieval_model: dict[str, Any] | None = None


class DocumentTextBody(_Open):
    name: str = Field(max_length=255)
    text: str = Field(max_length=MAX_TEXT_CHARS)
    indexing_technique: Literal["high_quality", "economy"] | None = None
    doc_form: Literal["text_model", "hierarchical_model", "qa_model"] | None = None
    doc_language: str | None = Field(default=None, max_length=64)
    process_rule: dict[str, Any] | None = None
    retrieval_model: dict[str, Any] | None = None
    embedding_model: str | None = Field(default=None, max_length=255)
    embedding_model_provider: str | None = Field(default=None, max_length=255)


class DocumentTextUpdate(_Open):
    name: str | None = Field(default=None, max_length=255)
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    process_rule: dict[str, Any] | None = None


class StatusBody(BaseModel):
    document_ids: list[str] = Field(max_length=1000)


class DownloadZipBody(BaseModel):
    document_ids: list[str] = Field(min_length=1, max_length=100)


class RetrieveBody(_Open):
    query: str = Field(max_length=10_000)
    retrieval_model: dict[str, Any] | None = None


# -- datasets ------------------------------------------------------------------------------


async def _dataset(plait: Plait, dataset: Dataset) -> dict[str, Any]:
    facts = await plait.datasets.facts([dataset])
    item = dataset_item(dataset, facts[dataset.id])
    item["tags"] = await plait.dataset_tags.of_target(dataset.workspace_id, dataset.id)
    item["doc_metadata"] = await plait.dataset_metadata.fields_shape(dataset)
    return item


@router.post("/datasets")
async def create_dataset(body: DatasetBody, key: DatasetKey, plait: PlaitDep) -> dict[str, Any]:
    dataset = await plait.datasets.create(key.workspace_id, key_actor(key), body.model_dump(exclude_none=True))
    return await _dataset(plait, dataset)


@router.get("/datasets")
async def list_datasets(
    key: DatasetKey,
    plait: PlaitDep,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = 20,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
    include_all: Annotated[bool, Query()] = False,
    tag_ids: Annotated[list[str] | None, Query(alias="tag_ids")] = None,
) -> dict[str, Any]:
    result = await plait.datasets.page(key.workspace_id, page=page, limit=limit, keyword=keyword, tag_ids=tag_ids or [])
    return await dataset_page(plait, key.workspace_id, result)


async def dataset_page(plait: Plait, workspace_id: str, result: NumberedPage[Dataset]) -> dict[str, Any]:
    """A page of datasets with their counts and tags (the Knowledge API's and the console's)."""
    facts = await plait.datasets.facts(result.items)
    tags = await plait.dataset_tags.of_targets(workspace_id, [d.id for d in result.items])
    return numbered_page(result, [dataset_item(d, facts[d.id], tags=tags.get(d.id, [])) for d in result.items])


@router.get("/datasets/{dataset_id}")
async def get_dataset(dataset: KeyDataset, plait: PlaitDep) -> dict[str, Any]:
    return await _dataset(plait, dataset)


@router.patch("/datasets/{dataset_id}")
async def update_dataset(body: DatasetPatch, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep) -> dict[str, Any]:
    changed = await plait.datasets.update(
        key.workspace_id, key_actor(key), dataset.id, body.model_dump(exclude_unset=True)
    )
    return await _dataset(plait, changed)


@router.delete("/datasets/{dataset_id}", status_code=204)
async def delete_dataset(dataset: KeyDataset, key: DatasetKey, plait: PlaitDep) -> Response:
    await plait.datasets.delete(key.workspace_id, key_actor(key), dataset.id)
    return Response(status_code=204)


# -- documents -----------------------------------------------------------------------------


async def _created(plait: Plait, created: Created) -> dict[str, Any]:
    return {"document": document_item(created.document), "batch": created.batch}


def _no_nul(*values: str | None) -> None:
    if any(value and "\x00" in value for value in values):
        raise InvalidInput(NUL_MESSAGE)


@router.post("/datasets/{dataset_id}/document/create-by-text")
@router.post("/datasets/{dataset_id}/document/create_by_text", include_in_schema=False)
async def create_by_text(
    body: DocumentTextBody, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep
) -> dict[str, Any]:
    fields = body.model_dump(exclude_none=True)
    source = DocumentSource(name=body.name, content=body.text.encode(), mime_type="text/plain")
    created = await plait.documents.create(dataset.id, key.workspace_id, key_actor(key), source, fields)
    return await _created(plait, created)


async def _multipart(request: Request, plait: Plait) -> tuple[DocumentSource | None, dict[str, Any]]:
    form = await request.form()
    raw = form.get("data")
    data: dict[str, Any] = {}
    if isinstance(raw, str) and raw.strip():
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as error:
            raise InvalidInput(f"data must be a JSON object: {error.msg}", params="data") from None
        if not isinstance(parsed, dict):
            raise InvalidInput("data must be a JSON object", params="data")
        data = parsed
    files = [value for name, value in form.multi_items() if name == "file" and isinstance(value, StarletteUpload)]
    if len(files) > 1:
        raise BadRequest("Only one file is allowed.", code="too_many_files")
    if not files:
        return None, data
    part = files[0]
    if not part.filename:
        raise BadRequest("The file has no name.", code="filename_not_exists_error")
    _no_nul(part.filename)
    plait.documents.check_file(part.filename, part.size or 0)
    parts, size = [], 0
    while chunk := await part.read(CHUNK):
        size += len(chunk)
        if size > plait.documents.max_file_bytes:
            raise PayloadTooLarge(f"File size exceeded. > {plait.documents.max_file_bytes}", code="file_too_large")
        parts.append(chunk)
    name = str(data.get("name") or part.filename)
    return DocumentSource(name=name, content=b"".join(parts), mime_type=part.content_type), data


@router.post("/datasets/{dataset_id}/document/create-by-file")
@router.post("/datasets/{dataset_id}/document/create_by_file", include_in_schema=False)
async def create_by_file(request: Request, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep) -> dict[str, Any]:
    source, data = await _multipart(request, plait)
    if source is None:
        raise BadRequest("No file uploaded.", code="no_file_uploaded")
    created = await plait.documents.create(dataset.id, key.workspace_id, key_actor(key), source, data)
    return await _created(plait, created)


@router.post("/datasets/{dataset_id}/documents/{document_id}/update-by-text")
@router.post("/datasets/{dataset_id}/documents/{document_id}/update_by_text", include_in_schema=False)
async def update_by_text(
    document_id: str, body: DocumentTextUpdate, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep
) -> dict[str, Any]:
    if body.text is not None and body.name is None:
        raise InvalidInput("name is required when text is given", params="name")
    source = None
    if body.text is not None:
        source = DocumentSource(name=str(body.name), content=body.text.encode(), mime_type="text/plain")
    created = await plait.documents.replace(
        dataset.id, key.workspace_id, key_actor(key), document_id, source, body.model_dump(exclude_none=True)
    )
    return await _created(plait, created)


@router.post("/datasets/{dataset_id}/documents/{document_id}/update-by-file")
@router.post("/datasets/{dataset_id}/documents/{document_id}/update_by_file", include_in_schema=False)
@router.patch("/datasets/{dataset_id}/documents/{document_id}")
async def update_by_file(
    document_id: str, request: Request, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep
) -> dict[str, Any]:
    source, data = await _multipart(request, plait)
    created = await plait.documents.replace(dataset.id, key.workspace_id, key_actor(key), document_id, source, data)
    return await _created(plait, created)


@router.get("/datasets/{dataset_id}/documents")
async def list_documents(
    dataset: KeyDataset,
    plait: PlaitDep,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = 20,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, Any]:
    result = await plait.documents.page(dataset, page=page, limit=limit, keyword=keyword, status=status)
    return numbered_page(result, [document_item(d) for d in result.items])


async def document_detail_of(plait: Plait, dataset: Dataset, document: Document, metadata: str) -> dict[str, Any]:
    facts = await plait.documents.facts([document])
    rule = await plait.documents.process_rule(document)
    upload = await plait.documents.source_file(document)
    upload_item = None
    if upload is not None:
        upload_item = {
            "id": upload.id,
            "name": upload.name,
            "size": upload.size,
            "extension": upload.extension,
            "mime_type": upload.mime_type,
            "created_at": int(upload.created_at.timestamp()),
        }
    return document_detail(
        document, facts[document.id], dataset_rule=rule, document_rule=rule, upload=upload_item, metadata=metadata
    )


@router.get("/datasets/{dataset_id}/documents/{document_id}")
async def get_document(
    document_id: str,
    dataset: KeyDataset,
    plait: PlaitDep,
    metadata: Annotated[Literal["all", "only", "without"], Query()] = "all",
) -> dict[str, Any]:
    document = await plait.documents.get(dataset, document_id)
    return await document_detail_of(plait, dataset, document, metadata)


@router.delete("/datasets/{dataset_id}/documents/{document_id}", status_code=204)
async def delete_document(document_id: str, dataset: KeyDataset, key: DatasetKey, plait: PlaitDep) -> Response:
    await plait.documents.delete(dataset, key_actor(key), document_id)
    return Response(status_code=204)


@router.get("/datasets/{dataset_id}/documents/{document_id}/download")
async def download_document(document_id: str, dataset: KeyDataset, plait: PlaitDep) -> dict[str, str]:
    """A signed link to the document's source file, valid for ``FILES_ACCESS_TIMEOUT``."""
    upload = await plait.documents.download(dataset, document_id)
    return {"url": plait.file_links.url(upload.id)}


@router.post("/datasets/{dataset_id}/documents/download-zip")
async def download_zip(body: DownloadZipBody, dataset: KeyDataset, plait: PlaitDep) -> Response:
    """The source files of up to 100 documents in one ZIP archive (names made unique)."""
    files = []
    for document_id in dict.fromkeys(body.document_ids):
        upload = await plait.documents.download(dataset, document_id)
        _row, content = await plait.documents.read_upload(upload.id)
        files.append((upload.name, content))
    archive = await asyncio.to_thread(_zip, files)
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{dataset.id}.zip"'},
    )


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files:
            stem, dot, extension = name.rpartition(".")
            unique, count = name, 1
            while unique in used:
                count += 1
                unique = f"{stem} ({count}){dot}{extension}" if dot else f"{name} ({count})"
            used.add(unique)
            archive.writestr(unique, content)
    return buffer.getvalue()


@router.get("/datasets/{dataset_id}/documents/{batch}/indexing-status")
async def indexing_status(batch: str, dataset: KeyDataset, plait: PlaitDep) -> dict[str, Any]:
    documents = await plait.documents.of_batch(dataset, batch)
    progress = await plait.indexing.progress([d.id for d in documents])
    return {"data": [indexing_status_item(d, *progress[d.id]) for d in documents]}


@router.patch("/datasets/{dataset_id}/documents/status/{action}")
async def document_status(
    action: Literal["enable", "disable", "archive", "un_archive"],
    body: StatusBody,
    dataset: KeyDataset,
    key: DatasetKey,
    plait: PlaitDep,
) -> dict[str, str]:
    await plait.documents.set_status(dataset, key_actor(key), action, body.document_ids)
    return {"result": "success"}


# -- retrieval -----------------------------------------------------------------------------


def retrieval_record(hit: RetrievedSegment) -> dict[str, Any]:
    segment = segment_item(hit.segment)
    segment.pop("child_chunks", None)
    segment["document"] = {
        "id": hit.document.id,
        "data_source_type": hit.document.data_source_type,
        "name": hit.document.name,
        "doc_type": None,
        "doc_metadata": dict(hit.document.doc_metadata or {}),
    }
    return {
        "segment": segment,
        "child_chunks": [
            {"id": child.id, "content": child.content, "position": child.position, "score": score}
            for child, score in hit.children
        ],
        "score": hit.score,
        "tsne_position": None,
        "files": [],
        "summary": None,
    }


@router.post("/datasets/{dataset_id}/retrieve")
@router.post("/datasets/{dataset_id}/hit-testing")
async def retrieve(body: RetrieveBody, dataset: KeyDataset, plait: PlaitDep) -> dict[str, Any]:
    hits = await plait.retrieval.hit_test(dataset, body.query, body.retrieval_model)
    await plait.documents.mark_hits([hit.segment.id for hit in hits])
    return {"query": {"content": body.query}, "records": [retrieval_record(hit) for hit in hits]}
