"""Files that tools produce, as the file values a workflow sees (``plait.engine.files``).

A tool's file is either bytes or a URL. Bytes go to the file store with an ``upload_files``
row in the run's workspace, so later nodes read them as they read uploads, and the value
says ``transfer_method: tool_file``; a URL stays a ``remote_url`` file, fetched (through the
egress) only by a node that reads it.
"""

from __future__ import annotations

import hashlib
import mimetypes
import posixpath
from typing import Any
from urllib.parse import urlsplit

from plait.app.run_files import file_type_of
from plait.engine.files import FILE_IDENTITY
from plait.ids import new_id
from plait.storage.db import Database
from plait.storage.db.tables import UploadFile
from plait.storage.files import FileStore
from plait.tools import ToolCallFailed, ToolFile

MAX_NAME_LENGTH = 255


class ToolFiles:
    def __init__(self, db: Database, store: FileStore, *, max_bytes: int) -> None:
        self._db = db
        self._store = store
        self.max_bytes = max_bytes

    async def file_value(self, workspace_id: str, file: ToolFile) -> dict[str, Any]:
        if file.content is None:
            return self._remote(workspace_id, file, str(file.url))
        if len(file.content) > self.max_bytes:
            raise ToolCallFailed(f"the tool's file {file.name!r} is larger than {self.max_bytes} bytes")
        name = posixpath.basename(file.name.replace("\\", "/"))[:MAX_NAME_LENGTH] or "file"
        extension = _extension(name, file.mime_type)
        file_id = new_id()
        key = f"tool-files/{workspace_id}/{file_id}{'.' + extension if extension else ''}"
        await self._store.put(key, file.content)
        row = UploadFile(
            id=file_id,
            workspace_id=workspace_id,
            storage_key=key,
            name=name,
            size=len(file.content),
            extension=extension,
            mime_type=file.mime_type,
            sha256=hashlib.sha256(file.content).hexdigest(),
            # Made by a run, not by a person: no end user or account is named.
            created_by_role="end_user",
        )
        try:
            async with self._db.transaction() as session:
                session.add(row)
        except BaseException:
            await self._store.delete(key)  # no bytes without a record
            raise
        return _value(
            workspace_id,
            "tool_file",
            name=name,
            extension=extension,
            mime_type=file.mime_type,
            size=len(file.content),
            related_id=file_id,
            url=f"/files/{file_id}/file-preview",
        )

    @staticmethod
    def _remote(workspace_id: str, file: ToolFile, url: str) -> dict[str, Any]:
        name = file.name or posixpath.basename(urlsplit(url).path) or "file"
        return _value(
            workspace_id,
            "remote_url",
            name=name,
            extension=_extension(name, file.mime_type),
            mime_type=file.mime_type,
            size=-1,
            remote_url=url,
            url=url,
        )


def _extension(name: str, mime_type: str) -> str:
    if "." in name:
        return name.rsplit(".", 1)[1].lower()[:32]
    guessed = mimetypes.guess_extension(mime_type or "") or ""
    return guessed.lstrip(".")


def _value(
    workspace_id: str,
    transfer_method: str,
    *,
    name: str,
    extension: str,
    mime_type: str,
    size: int,
    url: str,
    related_id: str | None = None,
    remote_url: str | None = None,
) -> dict[str, Any]:
    return {
        "dify_model_identity": FILE_IDENTITY,
        "id": new_id(),
        "tenant_id": workspace_id,
        "type": file_type_of(extension, mime_type),
        "transfer_method": transfer_method,
        "remote_url": remote_url,
        "related_id": related_id,
        "filename": name,
        "extension": f".{extension}" if extension else "",
        "mime_type": mime_type,
        "size": size,
        "url": url,
    }
