"""Documents of a knowledge base: add them (text, file or URL), change, list, enable,
disable, archive and delete them, and report where their indexing stands.

Adding a document only records it (state ``waiting``) and hands it to the indexing queue
after the transaction commits; the indexing job (``knowledge_indexing``) does the rest.
Every change that affects what retrieval may return updates the knowledge index in the
same request, after the database change committed: the database is the source of truth,
and the index operations are idempotent, so a retry (or the job's reconciliation) repairs
an index that a crash left behind.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plait.app.annotations import NumberedPage, check_page, workspace_owner
from plait.app.audit import Actor, record
from plait.app.datasets import Datasets, not_found
from plait.errors import BadRequest, InvalidInput, NotFound, PlaitError
from plait.ids import is_uuid, new_id
from plait.rag.parse.registry import default_registry
from plait.rag.process_rules import parse_process_rule, to_dify
from plait.storage.db import Database
from plait.storage.db.tables import (
    DOC_FORMS,
    RUNNING_INDEXING_STATUSES,
    Dataset,
    Document,
    ProcessRule,
    Segment,
    UploadFile,
)
from plait.storage.db.types import utcnow
from plait.storage.files import FileStore
from plait.storage.index.base import IndexStore

MAX_TEXT_CHARS = 10_000_000
MAX_NAME_LENGTH = 255
RUNNING_STATES = RUNNING_INDEXING_STATUSES
DISPLAY_STATUSES = ("queuing", "indexing", "paused", "error", "available", "disabled", "archived")
StatusAction = Literal["enable", "disable", "archive", "un_archive"]


class UnsupportedFileType(PlaitError):
    code = "unsupported_file_type"
    status = 415


class DocumentIndexing(BadRequest):
    code = "document_indexing"


def document_not_found() -> NotFound:
    return NotFound("Document not found.")


def display_status(document: Document) -> str:
    """Dify's ``display_status``: the indexing state a user reads, with enabled/archived."""
    status = document.indexing_status
    if status == "waiting":
        return "queuing"
    if status == "paused":
        return "paused"
    if status in ("parsing", "cleaning", "splitting", "indexing"):
        return "indexing"
    if status in ("error", "stopped"):
        return "error"
    if document.archived:
        return "archived"
    return "available" if document.enabled else "disabled"


def _status_condition(status: str) -> Any:
    if status == "queuing":
        return Document.indexing_status == "waiting"
    if status == "indexing":
        return Document.indexing_status.in_(("parsing", "cleaning", "splitting", "indexing"))
    if status == "paused":
        return Document.indexing_status == "paused"
    if status == "error":
        return Document.indexing_status.in_(("error", "stopped"))
    completed = Document.indexing_status == "completed"
    if status == "available":
        return completed & Document.enabled.is_(True) & Document.archived.is_(False)
    if status == "disabled":
        return completed & Document.enabled.is_(False) & Document.archived.is_(False)
    return completed & Document.archived.is_(True)


def new_batch() -> str:
    """Dify's batch id: the time to the second and six random digits."""
    return time.strftime("%Y%m%d%H%M%S") + f"{secrets.randbelow(1_000_000):06d}"


@dataclass(frozen=True)
class DocumentSource:
    """Where a new document's content comes from."""

    name: str
    content: bytes | None = None  # text or file bytes
    mime_type: str | None = None
    url: str | None = None  # fetched through the egress by the indexing job


@dataclass(frozen=True)
class Created:
    document: Document
    batch: str


@dataclass(frozen=True)
class DocumentFacts:
    segment_count: int
    completed_segments: int
    average_segment_length: float


def _doc_form(raw: Any, dataset: Dataset) -> str:
    form = raw or dataset.doc_form or "text_model"
    if form not in DOC_FORMS:
        raise InvalidInput(f"doc_form must be one of {', '.join(DOC_FORMS)}", params="doc_form")
    if dataset.doc_form and form != dataset.doc_form:
        raise InvalidInput(
            f"doc_form {form} differs from the dataset's ({dataset.doc_form}); a dataset holds one kind of chunks",
            params="doc_form",
        )
    return str(form)


def _document_name(raw: Any) -> str:
    name = str(raw or "").strip()
    if not name:
        raise InvalidInput("name is required", params="name")
    return name[:MAX_NAME_LENGTH]


def _file_extension(name: str) -> str:
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


class KnowledgeDocuments:
    def __init__(
        self,
        db: Database,
        datasets: Datasets,
        files: FileStore,
        index: IndexStore,
        *,
        enqueue: Callable[[str], None],
        max_file_bytes: int,
        max_tokens_limit: int = 4000,
    ) -> None:
        self._db = db
        self._datasets = datasets
        self._files = files
        self._index = index
        self._enqueue = enqueue
        self.max_file_bytes = max_file_bytes
        self.max_tokens_limit = max_tokens_limit

    # -- adding and replacing -------------------------------------------------------------

    def check_file(self, name: str, size: int) -> None:
        """Refuse, before anything is stored, a file Plait has no parser for or cannot take."""
        extension = _file_extension(name)
        if f".{extension}" not in default_registry().extensions:
            supported = ", ".join(sorted(e.lstrip(".") for e in default_registry().extensions))
            raise UnsupportedFileType(f"File type not allowed: .{extension or '(none)'} (supported: {supported})")
        if size > self.max_file_bytes:
            raise PlaitError(f"File size exceeded. {size} > {self.max_file_bytes}", code="file_too_large", status=413)

    async def _store_source(self, workspace_id: str, owner: str | None, source: DocumentSource) -> UploadFile | None:
        if source.content is None:
            return None
        file_id = new_id()
        extension = _file_extension(source.name)
        key = f"knowledge/{workspace_id}/{file_id}{'.' + extension if extension else ''}"
        await self._files.put(key, source.content)
        return UploadFile(
            id=file_id,
            workspace_id=workspace_id,
            storage_key=key,
            name=source.name[:MAX_NAME_LENGTH],
            size=len(source.content),
            extension=extension,
            mime_type=source.mime_type,
            sha256=hashlib.sha256(source.content).hexdigest(),
            created_by_role="account",
            created_by_account_id=owner,
        )

    async def create(
        self,
        dataset_id: str,
        workspace_id: str,
        actor: Actor,
        source: DocumentSource,
        body: Mapping[str, Any],
        *,
        created_from: str = "api",
        batch: str | None = None,
    ) -> Created:
        """Record a new document and queue it for indexing; returns it with its batch (a new
        one unless ``batch`` is given: the console adds several documents in one batch)."""
        name = _document_name(source.name)
        dataset = await self._datasets.get(workspace_id, dataset_id)
        doc_form = _doc_form(body.get("doc_form"), dataset)
        rule = parse_process_rule(body.get("process_rule"), doc_form=doc_form, max_tokens_limit=self.max_tokens_limit)
        async with self._db.reader() as session:
            owner = actor.account_id or await workspace_owner(session, workspace_id)
        upload = await self._store_source(workspace_id, owner, source)
        batch = batch or new_batch()
        async with self._db.transaction() as session:
            row = await session.get(Dataset, dataset.id)
            if row is None:
                raise not_found()
            dataset = row
            await self._datasets.fix_technique(session, dataset, body)
            dataset.doc_form = dataset.doc_form or doc_form
            dataset.data_source_type = dataset.data_source_type or ("website_crawl" if source.url else "upload_file")
            stored_rule = ProcessRule(dataset_id=dataset.id, created_by=owner, **to_dify(rule))
            session.add(stored_rule)
            if upload is not None:
                session.add(upload)
            await session.flush()
            position = (
                await session.execute(
                    select(func.coalesce(func.max(Document.position), 0)).where(Document.dataset_id == dataset.id)
                )
            ).scalar_one() + 1
            document = Document(
                workspace_id=workspace_id,
                dataset_id=dataset.id,
                position=position,
                data_source_type="website_crawl" if source.url else "upload_file",
                data_source_info={"url": source.url}
                if source.url
                else {"upload_file_id": upload.id if upload else None},
                process_rule_id=stored_rule.id,
                batch=batch,
                name=name,
                created_from=created_from,
                created_by=owner,
                doc_form=doc_form,
                doc_language=str(body.get("doc_language") or "English"),
                indexing_status="waiting",
            )
            session.add(document)
            await session.flush()
            record(
                session,
                actor,
                "document.create",
                workspace_id=workspace_id,
                target_type="document",
                target_id=document.id,
            )
        self._enqueue(document.id)
        return Created(document, batch)

    async def replace(
        self,
        dataset_id: str,
        workspace_id: str,
        actor: Actor,
        document_id: str,
        source: DocumentSource | None,
        body: Mapping[str, Any],
    ) -> Created:
        """New content and/or a new process rule for a document: it is indexed again from
        the start; its old segments stay searchable until the new ones replace them."""
        dataset = await self._datasets.get(workspace_id, dataset_id)
        document = await self.get(dataset, document_id)
        if document.indexing_status in RUNNING_STATES:
            raise DocumentIndexing("Document is being indexed; try again when it has finished.")
        rule = None
        if body.get("process_rule") is not None:
            rule = parse_process_rule(
                body.get("process_rule"), doc_form=document.doc_form, max_tokens_limit=self.max_tokens_limit
            )
        async with self._db.reader() as session:
            owner = actor.account_id or await workspace_owner(session, workspace_id)
        upload = await self._store_source(workspace_id, owner, source) if source is not None else None
        batch = new_batch()
        async with self._db.transaction() as session:
            row = await session.get(Document, document.id)
            if row is None:
                raise document_not_found()
            if rule is not None:
                stored_rule = ProcessRule(dataset_id=dataset.id, created_by=owner, **to_dify(rule))
                session.add(stored_rule)
                await session.flush()
                row.process_rule_id = stored_rule.id
            if upload is not None:
                session.add(upload)
                await session.flush()
                row.data_source_type = "upload_file"
                row.data_source_info = {"upload_file_id": upload.id}
            if source is not None and source.name:
                row.name = _document_name(source.name)
            _restart(row, batch)
            record(
                session, actor, "document.update", workspace_id=workspace_id, target_type="document", target_id=row.id
            )
        self._enqueue(document.id)
        return Created(row, batch)

    # -- reading --------------------------------------------------------------------------

    async def get(self, dataset: Dataset, document_id: str) -> Document:
        if not is_uuid(document_id):
            raise document_not_found()
        async with self._db.reader() as session:
            document = await session.get(Document, document_id)
        if document is None or document.dataset_id != dataset.id:
            raise document_not_found()
        return document

    async def page(
        self, dataset: Dataset, *, page: int, limit: int, keyword: str | None = None, status: str | None = None
    ) -> NumberedPage[Document]:
        check_page(page, limit)
        conditions: list[Any] = [Document.dataset_id == dataset.id]
        if keyword:
            conditions.append(Document.name.icontains(keyword, autoescape=True))
        if status:
            if status not in DISPLAY_STATUSES:
                raise InvalidInput(f"status must be one of {', '.join(DISPLAY_STATUSES)}", params="status")
            conditions.append(_status_condition(status))
        async with self._db.reader() as session:
            total = (await session.execute(select(func.count()).select_from(Document).where(*conditions))).scalar_one()
            rows = await session.execute(
                select(Document)
                .where(*conditions)
                .order_by(Document.position.desc())
                .offset((page - 1) * limit)
                .limit(limit)
            )
            items = list(rows.scalars())
        return NumberedPage(items, int(total), page, limit)

    async def of_batch(self, dataset: Dataset, batch: str) -> list[Document]:
        async with self._db.reader() as session:
            rows = await session.execute(
                select(Document)
                .where(Document.dataset_id == dataset.id, Document.batch == batch)
                .order_by(Document.position)
            )
            documents = list(rows.scalars())
        if not documents:
            raise document_not_found()
        return documents

    async def facts(self, documents: Sequence[Document]) -> dict[str, DocumentFacts]:
        ids = [d.id for d in documents]
        if not ids:
            return {}
        async with self._db.reader() as session:
            rows = await session.execute(
                select(
                    Segment.document_id,
                    func.count(),
                    func.count().filter(Segment.status == "completed"),
                    func.avg(Segment.word_count),
                )
                .where(Segment.document_id.in_(ids))
                .group_by(Segment.document_id)
            )
            found = {row[0]: DocumentFacts(int(row[1]), int(row[2]), float(row[3] or 0)) for row in rows}
        return {i: found.get(i, DocumentFacts(0, 0, 0.0)) for i in ids}

    async def process_rule(self, document: Document) -> dict[str, Any] | None:
        if document.process_rule_id is None:
            return None
        async with self._db.reader() as session:
            rule = await session.get(ProcessRule, document.process_rule_id)
        return None if rule is None else {"mode": rule.mode, "rules": rule.rules}

    async def download(self, dataset: Dataset, document_id: str) -> UploadFile:
        """The file a document was made from (404 for documents made from a URL)."""
        document = await self.get(dataset, document_id)
        upload = await self.source_file(document)
        if upload is None:
            raise NotFound("Document file not found.")
        return upload

    async def read_upload(self, file_id: str) -> tuple[UploadFile, bytes]:
        """A stored source file and its bytes (for a signed link: whoever holds it may read)."""
        if not is_uuid(file_id):
            raise NotFound("File not found.")
        async with self._db.reader() as session:
            row = await session.get(UploadFile, file_id)
        if row is None:
            raise NotFound("File not found.")
        return row, await self._files.get(row.storage_key)

    async def source_file(self, document: Document) -> UploadFile | None:
        file_id = (document.data_source_info or {}).get("upload_file_id")
        if not file_id:
            return None
        async with self._db.reader() as session:
            return await session.get(UploadFile, file_id)

    # -- changing -------------------------------------------------------------------------

    async def delete(self, dataset: Dataset, actor: Actor, document_id: str) -> None:
        document = await self.get(dataset, document_id)
        async with self._db.transaction() as session:
            row = await session.get(Document, document.id)
            if row is not None:
                await session.delete(row)
            record(
                session,
                actor,
                "document.delete",
                workspace_id=dataset.workspace_id,
                target_type="document",
                target_id=document.id,
            )
        # A job working on it finds it gone and stops; what it wrote to the index goes now.
        collection = await self._index.collection(dataset.id)
        await collection.delete(document_ids=[document.id])

    async def set_status(
        self, dataset: Dataset, actor: Actor, action: StatusAction, document_ids: Sequence[str]
    ) -> None:
        """Enable, disable, archive or un-archive documents (all or none: an unknown id is 404)."""
        ids = list(dict.fromkeys(document_ids))
        if not ids or not all(is_uuid(i) for i in ids):
            raise InvalidInput("document_ids must be a non-empty list of document ids", params="document_ids")
        now = utcnow()
        account = actor.account_id
        async with self._db.transaction() as session:
            rows = list(
                (
                    await session.execute(
                        select(Document).where(Document.dataset_id == dataset.id, Document.id.in_(ids))
                    )
                ).scalars()
            )
            if len(rows) != len(ids):
                raise document_not_found()
            for document in rows:
                if action in ("enable", "disable") and document.indexing_status in RUNNING_STATES:
                    raise DocumentIndexing(
                        f"Document {document.name} is being indexed; try again when it has finished."
                    )
                _apply_status(document, action, now, account)
            record(
                session,
                actor,
                f"document.{action}",
                workspace_id=dataset.workspace_id,
                target_type="dataset",
                target_id=dataset.id,
                detail={"document_ids": ids},
            )
            searchable = [d.id for d in rows if d.enabled and not d.archived]
            hidden = [d.id for d in rows if not (d.enabled and not d.archived)]
            enabled_segments = await _enabled_segments(session, searchable)
        collection = await self._index.collection(dataset.id)
        if hidden:
            await collection.set_enabled(False, document_ids=hidden)
        if enabled_segments:
            await collection.set_enabled(True, segment_ids=enabled_segments)

    async def mark_hits(self, segment_ids: Sequence[str]) -> None:
        """Count retrieval hits (Dify's ``hit_count``), in one statement."""
        if not segment_ids:
            return
        async with self._db.transaction() as session:
            await session.execute(
                update(Segment).where(Segment.id.in_(list(segment_ids))).values(hit_count=Segment.hit_count + 1)
            )


def _restart(document: Document, batch: str) -> None:
    document.batch = batch
    document.indexing_status = "waiting"
    document.error = None
    for column in (
        "processing_started_at",
        "parsing_completed_at",
        "cleaning_completed_at",
        "splitting_completed_at",
        "completed_at",
        "paused_at",
        "stopped_at",
    ):
        setattr(document, column, None)


def _apply_status(document: Document, action: StatusAction, now: datetime, account: str | None) -> None:
    if action == "enable":
        document.enabled, document.disabled_at, document.disabled_by = True, None, None
    elif action == "disable":
        document.enabled, document.disabled_at, document.disabled_by = False, now, account
    elif action == "archive":
        document.archived, document.archived_at, document.archived_by = True, now, account
    else:
        document.archived, document.archived_at, document.archived_by = False, None, None


async def _enabled_segments(session: AsyncSession, document_ids: Sequence[str]) -> list[str]:
    if not document_ids:
        return []
    rows = await session.execute(
        select(Segment.id).where(Segment.document_id.in_(list(document_ids)), Segment.enabled.is_(True))
    )
    return list(rows.scalars())
