"""Uploads through the Service API: a file belongs to the end user who sent it, within one
app; its bytes live in the file store, its facts in ``upload_files``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from plait.app.end_users import EndUsers
from plait.errors import InvalidInput, NotFound, PayloadTooLarge, PlaitError
from plait.ids import is_uuid, new_id
from plait.storage.db import Database
from plait.storage.db.tables import App, EndUser, UploadFile
from plait.storage.files import FileStore

# Executables and scripts are refused whatever the app: nothing Plait does needs them.
BLOCKED_EXTENSIONS = frozenset({"exe", "bat", "cmd", "com", "scr", "vbs", "ps1", "msi", "dll", "sh", "jar"})


class UnsupportedFileType(PlaitError):
    code = "unsupported_file_type"
    status = 415


@dataclass(frozen=True)
class StoredFile:
    row: UploadFile
    content: bytes


class Uploads:
    def __init__(self, db: Database, store: FileStore, end_users: EndUsers, *, max_bytes: int) -> None:
        self._db = db
        self._store = store
        self._end_users = end_users
        self.max_bytes = max_bytes

    async def upload(self, app: App, user: str, *, filename: str, mime_type: str | None, content: bytes) -> UploadFile:
        if "/" in filename or "\\" in filename:
            raise InvalidInput("Filename must not contain path separators.", params="file")
        extension = filename.rsplit(".", 1)[1].lower() if "." in filename else ""
        if extension in BLOCKED_EXTENSIONS:
            raise InvalidInput(f"Files of type .{extension} are not allowed.", params="file")
        if not mime_type:
            raise UnsupportedFileType("The file has no content type.")
        if len(content) > self.max_bytes:
            raise PayloadTooLarge(f"File size exceeded. {len(content)} > {self.max_bytes}", code="file_too_large")
        end_user = await self._end_users.get_or_create(app.workspace_id, app.id, user)
        file_id = new_id()
        key = f"uploads/{app.workspace_id}/{file_id}{'.' + extension if extension else ''}"
        await self._store.put(key, content)
        row = UploadFile(
            id=file_id,
            workspace_id=app.workspace_id,
            storage_key=key,
            name=filename[:255],
            size=len(content),
            extension=extension,
            mime_type=mime_type,
            sha256=hashlib.sha256(content).hexdigest(),
            created_by_role="end_user",
            created_by_end_user_id=end_user.id,
        )
        try:
            async with self._db.transaction() as session:
                session.add(row)
        except BaseException:
            await self._store.delete(key)  # no bytes without a record
            raise
        return row

    async def read(self, app: App, file_id: str) -> StoredFile:
        """A file uploaded through ``app`` (by any of its end users)."""
        if is_uuid(file_id):
            async with self._db.reader() as session:
                row = await session.get(UploadFile, file_id)
                owner = (
                    await session.get(EndUser, row.created_by_end_user_id)
                    if row and row.created_by_end_user_id
                    else None
                )
            if row is not None and owner is not None and owner.app_id == app.id:
                return StoredFile(row, await self._store.get(row.storage_key))
        raise NotFound("File not found.", code="file_not_found")
