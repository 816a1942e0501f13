"""Signed file links (``/files/{file_id}/file-preview?timestamp&nonce&sign``): the bytes of
a stored file for whoever holds an unexpired link made by this Plait (``app/file_links.py``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response

from plait.api.deps import PlaitDep

router = APIRouter(tags=["files"])


@router.get("/files/{file_id}/file-preview")
async def file_preview(
    file_id: str,
    plait: PlaitDep,
    timestamp: Annotated[str, Query(max_length=20)],
    nonce: Annotated[str, Query(max_length=64)],
    sign: Annotated[str, Query(max_length=128)],
    as_attachment: bool = True,
) -> Response:
    plait.file_links.check(file_id, timestamp=timestamp, nonce=nonce, sign=sign)
    row, content = await plait.documents.read_upload(file_id)
    disposition = "attachment" if as_attachment else "inline"
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(row.name)}",
    }
    return Response(content, media_type=row.mime_type or "application/octet-stream", headers=headers)
