"""Files uploaded in the console for knowledge bases, and documents made from them.

Dify's console uploads each file first (``POST /console/api/files/upload``), previews its
chunks (``indexing-estimate``) and only then creates documents from the file ids, several in
one batch. The file belongs to the workspace and to the account that sent it; it is checked
as the Knowledge API checks a ``create-by-file`` upload (a type Plait can parse, a size under
the limit) before anything is stored, so a file the console accepts is one indexing can read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from plait.app.audit import Actor
from plait.app.knowledge_documents import DocumentSource, KnowledgeDocuments, new_batch
from plait.errors import InvalidInput, NotFound, PayloadTooLarge
from plait.ids import is_uuid, new_id
from plait.storage.db import Database
from plait.storage.db.tables import Document, UploadFile
from plait.storage.files import FileStore

MAX_SOURCES_PER_REQUEST = 20  # Dify's BATCH_UPLOAD_LIMIT default
MAX_URL_LENGTH = 2048


def file_not_found() -> NotFound:
    return NotFound("File not found.", code="file_not_found")


@dataclass(frozen=True)
class AddedDocuments:
    documents: list[Document]
    batch: str


class KnowledgeUploads:
    def __init__(self, db: Database, store: FileStore, documents: KnowledgeDocuments) -> None:
        self._db = db
        self._store = store
        self._documents = documents

    @property
    def max_bytes(self) -> int:
        return self._documents.max_file_bytes

    def check(self, filename: str, size: int) -> None:
        """The Knowledge API's checks, before a byte is read: a name, a parsable type, a size."""
        if "/" in filename or "\\" in filename:
            raise InvalidInput("Filename must not contain path separators.", params="file")
        self._documents.check_file(filename, size)

    async def upload(
        self, workspace_id: str, account_id: str | None, *, filename: str, mime_type: str | None, content: bytes
    ) -> UploadFile:
        self.check(filename, len(content))
        if len(content) > self.max_bytes:  # the declared size may have been absent or wrong
            raise PayloadTooLarge(f"File size exceeded. > {self.max_bytes}", code="file_too_large")
        file_id = new_id()
        extension = filename.rsplit(".", 1)[1].lower() if "." in filename else ""
        key = f"knowledge/{workspace_id}/{file_id}{'.' + extension if extension else ''}"
        await self._store.put(key, content)
        row = UploadFile(
            id=file_id,
            workspace_id=workspace_id,
            storage_key=key,
            name=filename[:255],
            size=len(content),
            extension=extension,
            mime_type=mime_type,
            sha256=hashlib.sha256(content).hexdigest(),
            created_by_role="account",
            created_by_account_id=account_id,
        )
        try:
            async with self._db.transaction() as session:
                session.add(row)
        except BaseException:
            await self._store.delete(key)  # no bytes without a record
            raise
        return row

    async def source(self, workspace_id: str, file_id: str) -> DocumentSource:
        """A file uploaded in this workspace's console, as a document source (404 otherwise)."""
        if not is_uuid(file_id):
            raise file_not_found()
        async with self._db.reader() as session:
            row = await session.get(UploadFile, file_id)
        if row is None or row.workspace_id != workspace_id or row.created_by_role != "account":
            raise file_not_found()
        return DocumentSource(name=row.name, content=await self._store.get(row.storage_key), mime_type=row.mime_type)

    async def sources(self, workspace_id: str, file_ids: Sequence[str]) -> list[DocumentSource]:
        ids = _bounded(list(dict.fromkeys(file_ids)), "file_ids")
        return [await self.source(workspace_id, file_id) for file_id in ids]

    async def add_documents(
        self,
        dataset_id: str,
        workspace_id: str,
        actor: Actor,
        sources: Sequence[DocumentSource],
        body: Mapping[str, Any],
    ) -> AddedDocuments:
        """One document per source, all in one batch. Every source was read and the body is
        checked by the first create, so a refused request writes nothing."""
        batch = new_batch()
        documents = []
        for source in sources:
            created = await self._documents.create(
                dataset_id, workspace_id, actor, source, body, created_from="web", batch=batch
            )
            documents.append(created.document)
        return AddedDocuments(documents, batch)


def url_sources(urls: Sequence[Any]) -> list[DocumentSource]:
    """Web pages to fetch (through the egress, when indexing runs), checked for shape only."""
    sources = []
    for raw in _bounded(list(dict.fromkeys(urls)), "urls"):
        url = raw.strip() if isinstance(raw, str) else ""
        try:
            parts = urlsplit(url)
        except ValueError:  # an unclosed IPv6 bracket, say
            parts = urlsplit("")
        if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput("urls must be http or https URLs", params="urls")
        sources.append(DocumentSource(name=url, url=url))
    return sources


def _bounded(values: list[Any], field: str) -> list[Any]:
    if not values:
        raise InvalidInput(f"{field} must not be empty", params=field)
    if len(values) > MAX_SOURCES_PER_REQUEST:
        raise InvalidInput(f"at most {MAX_SOURCES_PER_REQUEST} {field} per request", params=field)
    return values
