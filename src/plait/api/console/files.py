"""Console uploads (``/console/api/files...``): the files a knowledge base's documents are
made from. Checked as the Knowledge API's ``create-by-file`` checks its file; only roles that
may change knowledge bases can upload."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile as StarletteUpload

from plait.api.console.datasets import DatasetEditor
from plait.api.deps import ConsoleUser, PlaitDep
from plait.api.nul_characters import MESSAGE as NUL_MESSAGE
from plait.app.knowledge_uploads import MAX_SOURCES_PER_REQUEST
from plait.errors import BadRequest, InvalidInput, PayloadTooLarge
from plait.rag.parse.registry import default_registry

router = APIRouter(tags=["console: knowledge"])
CHUNK = 1024 * 1024


@router.get("/files/upload")
async def upload_config(user: ConsoleUser, plait: PlaitDep) -> dict[str, Any]:
    """What the console's file picker may send (Dify's upload settings)."""
    mb = plait.knowledge_uploads.max_bytes // (1024 * 1024)
    return {
        "file_size_limit": mb,
        "batch_count_limit": MAX_SOURCES_PER_REQUEST,
        "file_upload_limit": MAX_SOURCES_PER_REQUEST,
        "image_file_size_limit": mb,
        "video_file_size_limit": mb,
        "audio_file_size_limit": mb,
        "workflow_file_upload_limit": MAX_SOURCES_PER_REQUEST,
    }


@router.get("/files/support-type")
async def supported_types(user: ConsoleUser) -> dict[str, list[str]]:
    return {"allowed_extensions": sorted(e.lstrip(".") for e in default_registry().extensions)}


@router.post("/files/upload", status_code=201)
async def upload(request: Request, user: DatasetEditor, plait: PlaitDep) -> dict[str, Any]:
    form = await request.form()
    files = [value for key, value in form.multi_items() if key == "file" and isinstance(value, StarletteUpload)]
    if not files:
        raise BadRequest("No file uploaded.", code="no_file_uploaded")
    if len(files) > 1:
        raise BadRequest("Only one file is allowed.", code="too_many_files")
    part = files[0]
    if not part.filename:
        raise BadRequest("The file has no name.", code="filename_not_exists_error")
    if "\x00" in part.filename:  # multipart bodies pass the NUL guard unscanned
        raise InvalidInput(NUL_MESSAGE, params="file")
    uploads = plait.knowledge_uploads
    uploads.check(part.filename, part.size or 0)
    parts, size = [], 0
    while chunk := await part.read(CHUNK):
        size += len(chunk)
        if size > uploads.max_bytes:
            raise PayloadTooLarge(f"File size exceeded. > {uploads.max_bytes}", code="file_too_large")
        parts.append(chunk)
    row = await uploads.upload(
        user.workspace_id, user.account_id, filename=part.filename, mime_type=part.content_type, content=b"".join(parts)
    )
    return {
        "id": row.id,
        "name": row.name,
        "size": row.size,
        "extension": row.extension,
        "mime_type": row.mime_type,
        "created_by": row.created_by_account_id,
        "created_at": int(row.created_at.timestamp()),
        "preview_url": None,
        "source_url": None,
        "original_url": None,
        "user_id": None,
        "tenant_id": row.workspace_id,
        "conversation_id": None,
        "file_key": None,
    }
