"""Files given to runs: the file objects callers send become the file values a workflow
sees, and the engine reads their bytes through here.

A caller names a file as Dify's API does: ``{type, transfer_method: local_file,
upload_file_id}`` for an upload (which must belong to the same end user of the same app),
or ``{type, transfer_method: remote_url, url}``. The run sees Dify's full file object (see
``plait.engine.files``). Reading goes through the file store for uploads and tool files of
the run's workspace, and through the egress for remote URLs, capped in size.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from plait.egress import Egress, EgressError
from plait.engine.files import FILE_IDENTITY, FILE_TYPES
from plait.errors import InvalidInput, NotFound, PlaitError
from plait.ids import is_uuid, new_id
from plait.storage.db import Database
from plait.storage.db.tables import EndUser, UploadFile
from plait.storage.files import FileStore

TRANSFER_METHODS = ("local_file", "remote_url")
MAX_FILES_PER_RUN = 10
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "gif", "webp", "svg", "bmp"})
AUDIO_EXTENSIONS = frozenset({"mp3", "m4a", "wav", "webm", "amr", "mpga", "ogg", "flac"})
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "mpeg", "webm", "avi", "mkv"})
DOCUMENT_EXTENSIONS = frozenset(
    {"txt", "md", "markdown", "mdx", "pdf", "html", "htm", "xlsx", "xls", "docx", "csv", "json", "pptx", "xml", "epub"}
)


class FileUnreadable(PlaitError):
    code = "file_unreadable"
    status = 400


def file_type_of(extension: str, mime_type: str | None) -> str:
    """Dify's file type for a file, from its extension (then its MIME type)."""
    extension = extension.lower()
    if extension in IMAGE_EXTENSIONS or (mime_type or "").startswith("image/"):
        return "image"
    if extension in AUDIO_EXTENSIONS or (mime_type or "").startswith("audio/"):
        return "audio"
    if extension in VIDEO_EXTENSIONS or (mime_type or "").startswith("video/"):
        return "video"
    if extension in DOCUMENT_EXTENSIONS:
        return "document"
    return "custom"


class RunFiles:
    def __init__(self, db: Database, store: FileStore, egress: Egress, *, max_bytes: int) -> None:
        self._db = db
        self._store = store
        self._egress = egress
        self.max_bytes = max_bytes

    async def resolve(self, end_user: EndUser, value: Any, *, name: str) -> dict[str, Any]:
        """One file object from a caller, checked, as the run's file value. ``name`` is
        the input it came in (for the error)."""
        if not isinstance(value, Mapping):
            raise InvalidInput(f"{name} must be a file object", params=name)
        method = value.get("transfer_method")
        if method not in TRANSFER_METHODS:
            raise InvalidInput(f"{name}: transfer_method must be local_file or remote_url", params=name)
        declared_type = value.get("type")
        if declared_type is not None and declared_type not in FILE_TYPES:
            raise InvalidInput(f"{name}: type must be one of {', '.join(FILE_TYPES)}", params=name)
        if method == "remote_url":
            url = value.get("url") or value.get("remote_url")
            if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
                raise InvalidInput(f"{name}: a remote_url file needs an http(s) url", params=name)
            filename = posixpath.basename(urlsplit(url).path) or "file"
            extension = filename.rsplit(".", 1)[1].lower() if "." in filename else ""
            mime_type = mimetypes.guess_type(filename)[0]
            return _file(
                declared_type or file_type_of(extension, mime_type),
                "remote_url",
                end_user.workspace_id,
                filename=filename,
                extension=extension,
                mime_type=mime_type,
                size=-1,
                remote_url=url,
            )
        upload_id = value.get("upload_file_id") or value.get("related_id")
        if not isinstance(upload_id, str) or not is_uuid(upload_id):
            raise InvalidInput(f"{name}: a local_file needs the upload_file_id of an upload", params=name)
        async with self._db.reader() as session:
            row = (
                await session.execute(
                    select(UploadFile).where(
                        UploadFile.id == upload_id, UploadFile.created_by_end_user_id == end_user.id
                    )
                )
            ).scalar_one_or_none()
        if row is None:  # someone else's upload reads as missing
            raise NotFound(f"{name}: the uploaded file {upload_id} was not found", code="file_not_found")
        return _file(
            declared_type or file_type_of(row.extension, row.mime_type),
            "local_file",
            row.workspace_id,
            filename=row.name,
            extension=row.extension,
            mime_type=row.mime_type,
            size=row.size,
            related_id=row.id,
        )

    async def resolve_all(self, end_user: EndUser, value: Any, *, name: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise InvalidInput(f"{name} must be a list of file objects", params=name)
        if len(value) > MAX_FILES_PER_RUN:
            raise InvalidInput(f"{name}: at most {MAX_FILES_PER_RUN} files per run", params=name)
        return [await self.resolve(end_user, item, name=name) for item in value]

    def reader(self, workspace_id: str) -> WorkspaceFiles:
        return WorkspaceFiles(self, workspace_id)

    async def read(self, workspace_id: str, file: Mapping[str, Any]) -> bytes:
        method = file.get("transfer_method")
        if method == "remote_url":
            url = str(file.get("remote_url") or file.get("url") or "")
            try:
                response = await self._egress.request("GET", url)
            except EgressError as error:
                raise FileUnreadable(f"{file.get('filename') or url} cannot be fetched: {error}") from None
            if response.status_code >= 400:
                raise FileUnreadable(f"{file.get('filename') or url} cannot be fetched: HTTP {response.status_code}")
            if len(response.content) > self.max_bytes:
                raise FileUnreadable(f"{file.get('filename') or url} is larger than {self.max_bytes} bytes")
            return response.content
        file_id = str(file.get("related_id") or "")
        if not is_uuid(file_id):
            raise FileUnreadable(f"{file.get('filename') or 'a file'} has no stored content")
        async with self._db.reader() as session:
            row = await session.get(UploadFile, file_id)
        if row is None or row.workspace_id != workspace_id:
            raise FileUnreadable(f"{file.get('filename') or file_id} does not exist in this workspace")
        return await self._store.get(row.storage_key)


class WorkspaceFiles:
    """The engine's :class:`~plait.engine.services.FileReader` for one workspace: files of
    other workspaces read as missing, whatever a variable claims."""

    def __init__(self, files: RunFiles, workspace_id: str) -> None:
        self._files = files
        self._workspace_id = workspace_id

    async def read(self, file: Mapping[str, Any]) -> bytes:
        return await self._files.read(self._workspace_id, file)


def _file(
    file_type: str,
    transfer_method: str,
    workspace_id: str,
    *,
    filename: str,
    extension: str,
    mime_type: str | None,
    size: int,
    related_id: str | None = None,
    remote_url: str | None = None,
) -> dict[str, Any]:
    return {
        "dify_model_identity": FILE_IDENTITY,
        "id": new_id(),
        "tenant_id": workspace_id,
        "type": file_type,
        "transfer_method": transfer_method,
        "remote_url": remote_url,
        "related_id": related_id,
        "filename": filename,
        "extension": f".{extension}" if extension else "",
        "mime_type": mime_type,
        "size": size,
        "url": remote_url or (f"/files/{related_id}/file-preview" if related_id else None),
    }
