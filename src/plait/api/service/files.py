"""File upload and preview."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile as StarletteUpload

from plait.api.deps import PlaitDep
from plait.api.nul_characters import MESSAGE as NUL_MESSAGE
from plait.api.service.auth import KeyApp
from plait.errors import BadRequest, InvalidInput, PayloadTooLarge

router = APIRouter(tags=["service: files"])
CHUNK = 1024 * 1024


async def _read_capped(upload: StarletteUpload, limit: int) -> bytes:
    parts, size = [], 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"File size exceeded. > {limit}", code="file_too_large")
        parts.append(chunk)
    return b"".join(parts)


@router.post("/files/upload", status_code=201)
async def upload(request: Request, app: KeyApp, plait: PlaitDep) -> dict[str, Any]:
    form = await request.form()
    files = [value for key, value in form.multi_items() if key == "file" and isinstance(value, StarletteUpload)]
    if not files:
        raise BadRequest("No file uploaded.", code="no_file_uploaded")
    if len(files) > 1:
        raise BadRequest("Only one file is allowed.", code="too_many_files")
    user = form.get("user")
    if not isinstance(user, str) or not user:
        raise InvalidInput("Arg user must be provided.", params="user")
    part = files[0]
    if not part.filename:
        raise BadRequest("The file has no name.", code="filename_not_exists_error")
    if "\x00" in user or "\x00" in part.filename:  # multipart bodies pass the NUL guard unscanned
        raise InvalidInput(NUL_MESSAGE, params="user" if "\x00" in user else "file")
    content = await _read_capped(part, plait.uploads.max_bytes)
    row = await plait.uploads.upload(app, user, filename=part.filename, mime_type=part.content_type, content=content)
    preview = f"/v1/files/{row.id}/preview"
    return {
        "id": row.id,
        "reference": None,
        "name": row.name,
        "size": row.size,
        "extension": row.extension,
        "mime_type": row.mime_type,
        "created_by": row.created_by_end_user_id,
        "created_at": int(row.created_at.timestamp()),
        "preview_url": preview,
        "source_url": preview,
        "original_url": None,
        "user_id": None,
        "tenant_id": row.workspace_id,
        "conversation_id": None,
        "file_key": None,
    }


@router.get("/files/{file_id}/preview")
async def preview(file_id: str, app: KeyApp, plait: PlaitDep, as_attachment: bool = False) -> Response:
    stored = await plait.uploads.read(app, file_id)
    headers = {"X-Content-Type-Options": "nosniff"}
    if as_attachment:
        headers["Content-Disposition"] = f'attachment; filename="{stored.row.name}"'
    return Response(stored.content, media_type=stored.row.mime_type or "application/octet-stream", headers=headers)
