"""Indexing documents: Dify's states ``waiting → parsing → cleaning → splitting → indexing
→ completed``, in the background, resumable and idempotent.

A job works on one document and writes each state as it enters it, so progress
(``completed_segments/total_segments``) is visible while it runs. What it does cannot be
lost or doubled:

- Parsing, cleaning and splitting are pure; their result is written in one transaction that
  replaces the document's segments (and child chunks). A crash before that commit redoes
  them; after it, the document is ``indexing`` and the segments are the source of truth.
- Indexing embeds the segments not yet ``completed``, in batches, upserts them into the
  knowledge index under their own ids (an upsert replaces), and only then marks them
  completed. A crash in between re-upserts a batch: the same ids, no duplicates. Entries of
  the document that are not among its current segments (a previous attempt's) are removed
  before indexing starts.
- A process that starts finds the documents whose state is not final and resumes them
  (``recover``). Until background work runs on the task interface of the scale-out work,
  jobs run in this process's own queue.

A document that cannot be read, split or embedded ends in ``error`` with a message saying
why; nothing else is affected.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import delete, func, select, update

from plait.egress import Egress, EgressError
from plait.errors import PlaitError
from plait.ids import new_id
from plait.providers.base import ChatModel, EmbeddingModel
from plait.rag.chunk import Chunk, split
from plait.rag.clean import clean
from plait.rag.embed import BatchingEmbedder
from plait.rag.parse import DocumentUnreadable
from plait.rag.parse.registry import parse_document_async
from plait.rag.process_rules import ProcessRule as Rule
from plait.rag.process_rules import parse_process_rule
from plait.rag.qa import generate_qa
from plait.storage.db import Database
from plait.storage.db.tables import (
    RUNNING_INDEXING_STATUSES,
    ChildChunk,
    Dataset,
    Document,
    ProcessRule,
    Segment,
    UploadFile,
)
from plait.storage.db.types import utcnow
from plait.storage.files import FileStore
from plait.storage.index.base import IndexEntry, IndexStore

log = structlog.get_logger(__name__)

RUNNING_STATES = RUNNING_INDEXING_STATUSES
# Text longer than this shows ``cleaning`` and ``splitting`` as it enters them; a shorter
# document passes both in milliseconds, so their timestamps are written with its segments
# instead (one transaction fewer each: what many small documents cost is transactions).
SHOW_STEPS_FROM_CHARS = 100_000
# Segments per index write (and per "completed" update): one transaction per batch.
SEGMENT_BATCH = 64

EmbeddingFor = Callable[[str, str, str], Awaitable[EmbeddingModel]]
ChatModelFor = Callable[[str], Awaitable[ChatModel]]


class IndexingFailed(PlaitError):
    code = "indexing_error"
    status = 500


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def word_count(text: str) -> int:
    """Dify counts characters as a document's "words"."""
    return len(text)


@dataclass
class _Unit:
    """One index entry to write: a segment, or a child chunk of one."""

    node_id: str
    segment_id: str
    embed_text: str
    search_text: str


@dataclass
class IndexingQueue:
    """The in-process queue of documents to index, with ``concurrency`` jobs at a time."""

    run: Callable[[str], Awaitable[None]]
    concurrency: int = 2
    _queue: asyncio.Queue[str] | None = field(default=None, init=False)
    _queued: set[str] = field(default_factory=set, init=False)
    _workers: list[asyncio.Task[None]] = field(default_factory=list, init=False)

    def put(self, document_id: str) -> None:
        if document_id in self._queued:
            return
        if self._queue is None:
            self._queue = asyncio.Queue()
            loop = asyncio.get_running_loop()
            self._workers = [loop.create_task(self._work()) for _ in range(self.concurrency)]
        self._queued.add(document_id)
        self._queue.put_nowait(document_id)

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            document_id = await self._queue.get()
            try:
                await self.run(document_id)
            except Exception as error:  # a job's own errors end its document; this is a bug
                log.exception("indexing.job_crashed", document_id=document_id, error=str(error))
            finally:
                self._queued.discard(document_id)
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued document has been worked on."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        self._queue = None
        self._queued.clear()


class KnowledgeIndexing:
    def __init__(
        self,
        db: Database,
        files: FileStore,
        index: IndexStore,
        egress: Egress,
        *,
        embedding_for: EmbeddingFor,
        chat_model_for: ChatModelFor,
        concurrency: int = 2,
        embed_batch_size: int = 32,
        embed_concurrency: int = 2,
        max_url_bytes: int = 15 * 1024 * 1024,
    ) -> None:
        self._db = db
        self._files = files
        self._index = index
        self._egress = egress
        self._embedding_for = embedding_for
        self._chat_model_for = chat_model_for
        self._embed_batch_size = embed_batch_size
        self._embed_concurrency = embed_concurrency
        self._max_url_bytes = max_url_bytes
        self._embedders: dict[int, BatchingEmbedder] = {}
        self.queue = IndexingQueue(self.index_document, concurrency=concurrency)

    def enqueue(self, document_id: str) -> None:
        self.queue.put(document_id)

    async def recover(self) -> int:
        """Queue every document a stopped process left unfinished; returns how many."""
        async with self._db.reader() as session:
            rows = await session.execute(
                select(Document.id).where(Document.indexing_status.in_(RUNNING_STATES)).order_by(Document.created_at)
            )
            pending = list(rows.scalars())
        for document_id in pending:
            self.enqueue(document_id)
        if pending:
            log.info("indexing.resumed", documents=len(pending))
        return len(pending)

    async def close(self) -> None:
        await self.queue.close()
        for embedder in self._embedders.values():
            await embedder.aclose()

    async def embedder(self, dataset: Dataset) -> BatchingEmbedder:
        model = await self._embedding_for(
            dataset.workspace_id, dataset.embedding_model_provider or "", dataset.embedding_model or ""
        )
        # One batcher per model object: the resolver keeps one adapter per model and
        # credentials, so jobs on datasets that share a model share its batches.
        batcher = self._embedders.get(id(model))
        if batcher is None or batcher.model is not model:
            batcher = BatchingEmbedder(model, batch_size=self._embed_batch_size, concurrency=self._embed_concurrency)
            self._embedders[id(model)] = batcher
        return batcher

    # -- one document ---------------------------------------------------------------------

    async def index_document(self, document_id: str) -> None:
        started = time.monotonic()
        loaded = await self._load(document_id)
        if loaded is None:
            return
        document, dataset, rule = loaded
        try:
            if document.indexing_status != "indexing":
                chunks, steps = await self._prepare(document, dataset, rule)
                await self._store_segments(document, dataset, chunks, steps)
            await self._index_segments(document_id, dataset, started)
        except asyncio.CancelledError:
            raise  # the process is stopping: the document resumes where it stood
        except _Gone:
            log.info("indexing.document_gone", document_id=document_id)
        except DocumentUnreadable as error:
            await self._fail(document_id, error.message)
        except PlaitError as error:
            await self._fail(document_id, error.message)
        except Exception as error:
            log.exception("indexing.failed", document_id=document_id)
            await self._fail(document_id, f"indexing failed: {type(error).__name__}: {error}")

    async def _load(self, document_id: str) -> tuple[Document, Dataset, Rule] | None:
        async with self._db.reader() as session:
            document = await session.get(Document, document_id)
            if document is None or document.indexing_status not in RUNNING_STATES:
                return None
            dataset = await session.get(Dataset, document.dataset_id)
            stored = await session.get(ProcessRule, document.process_rule_id) if document.process_rule_id else None
        if dataset is None:
            return None
        raw = {"mode": stored.mode, "rules": stored.rules} if stored is not None else None
        return document, dataset, parse_process_rule(raw, doc_form=document.doc_form)

    async def _set(self, document_id: str, **values: Any) -> None:
        async with self._db.transaction() as session:
            result = await session.execute(
                update(Document)
                .where(Document.id == document_id, Document.indexing_status.in_(RUNNING_STATES))
                .values(**values)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise _Gone()

    async def _prepare(
        self, document: Document, dataset: Dataset, rule: Rule
    ) -> tuple[list[Chunk], dict[str, datetime]]:
        """Parse, clean and split; returns the chunks and when each step completed."""
        now = utcnow()
        await self._set(
            document.id, indexing_status="parsing", processing_started_at=document.processing_started_at or now
        )
        text = await self._extract(document)
        steps = {"parsing_completed_at": utcnow()}
        large = len(text) > SHOW_STEPS_FROM_CHARS
        if large:
            await self._set(document.id, indexing_status="cleaning", **steps)
        cleaned = clean(text, rule.pre_processing)
        steps["cleaning_completed_at"] = utcnow()
        if large:
            await self._set(
                document.id, indexing_status="splitting", cleaning_completed_at=steps["cleaning_completed_at"]
            )
        chunks = await asyncio.to_thread(split, cleaned, rule, doc_form=document.doc_form)
        if document.doc_form == "qa_model" and chunks:
            model = await self._chat_model_for(dataset.workspace_id)
            chunks = await generate_qa(chunks, model, language=document.doc_language or "English")
        if not chunks:
            raise IndexingFailed(f"{document.name} has no text left to index after cleaning")
        return chunks, steps

    async def _extract(self, document: Document) -> str:
        info = document.data_source_info or {}
        if info.get("url"):
            content, name, mime = await self._fetch(str(info["url"]))
        else:
            async with self._db.reader() as session:
                upload = (
                    await session.get(UploadFile, info.get("upload_file_id")) if info.get("upload_file_id") else None
                )
            if upload is None:
                raise IndexingFailed(f"the source file of {document.name} is missing")
            content, name, mime = await self._files.get(upload.storage_key), upload.name, upload.mime_type
        parsed = await parse_document_async(content, filename=name, mime_type=mime)
        return parsed.text

    async def _fetch(self, url: str) -> tuple[bytes, str, str | None]:
        try:
            response = await self._egress.request("GET", url)
        except EgressError as error:
            raise IndexingFailed(f"{url} cannot be fetched: {error}") from None
        if response.status_code >= 400:
            raise IndexingFailed(f"{url} cannot be fetched: HTTP {response.status_code}")
        if len(response.content) > self._max_url_bytes:
            raise IndexingFailed(f"{url} is larger than {self._max_url_bytes} bytes")
        mime = (response.headers.get("content-type") or "").split(";")[0].strip() or None
        name = url.rstrip("/").rsplit("/", 1)[-1] or "page"
        if "." not in name:
            name += ".html" if mime in (None, "text/html", "application/xhtml+xml") else ".txt"
        return response.content, name, mime

    async def _store_segments(
        self, document: Document, dataset: Dataset, chunks: Sequence[Chunk], steps: dict[str, datetime]
    ) -> None:
        """Replace the document's segments with ``chunks`` and enter ``indexing``: one transaction."""
        now = utcnow()
        segments: list[Segment] = []
        children: list[ChildChunk] = []
        for position, chunk in enumerate(chunks, start=1):
            segment = Segment(
                id=new_id(),
                workspace_id=dataset.workspace_id,
                dataset_id=dataset.id,
                document_id=document.id,
                position=position,
                content=chunk.content,
                answer=chunk.answer,
                word_count=word_count(chunk.content) + word_count(chunk.answer or ""),
                tokens=chunk.tokens,
                keywords=[],
                index_node_hash=content_hash(chunk.content),
                enabled=True,
                status="waiting",
                created_by=document.created_by,
                created_at=now,
                updated_at=now,
            )
            segment.index_node_id = segment.id
            segments.append(segment)
            for child_position, child in enumerate(chunk.children, start=1):
                child_id = new_id()
                children.append(
                    ChildChunk(
                        id=child_id,
                        workspace_id=dataset.workspace_id,
                        dataset_id=dataset.id,
                        document_id=document.id,
                        segment_id=segment.id,
                        position=child_position,
                        content=child.content,
                        word_count=word_count(child.content),
                        index_node_id=child_id,
                        index_node_hash=content_hash(child.content),
                        type="automatic",
                        created_by=document.created_by,
                        created_at=now,
                        updated_at=now,
                    )
                )
        async with self._db.transaction() as session:
            row = await session.get(Document, document.id)
            if row is None or row.indexing_status not in RUNNING_STATES:
                raise _Gone()
            await session.execute(delete(Segment).where(Segment.document_id == document.id))
            session.add_all(segments)
            await session.flush()
            session.add_all(children)
            row.indexing_status = "indexing"
            row.parsing_completed_at = steps["parsing_completed_at"]
            row.cleaning_completed_at = steps["cleaning_completed_at"]
            row.splitting_completed_at = utcnow()
            row.word_count = sum(s.word_count for s in segments)
            row.tokens = sum(s.tokens for s in segments)

    async def _index_segments(self, document_id: str, dataset: Dataset, started: float) -> None:
        """Embed and index the segments not yet completed, batch by batch; the transaction
        that marks the last batch completed also completes the document."""
        collection = await self._index.collection(dataset.id)
        async with self._db.reader() as session:
            document = await session.get(Document, document_id)
            if document is None:
                raise _Gone()
            segments = list(
                (
                    await session.execute(
                        select(Segment).where(Segment.document_id == document_id).order_by(Segment.position)
                    )
                ).scalars()
            )
            children = list(
                (
                    await session.execute(
                        select(ChildChunk).where(ChildChunk.document_id == document_id).order_by(ChildChunk.position)
                    )
                ).scalars()
            )
        hierarchical = document.doc_form == "hierarchical_model"
        by_segment: dict[str, list[ChildChunk]] = {}
        for child in children:
            by_segment.setdefault(child.segment_id, []).append(child)
        expected = {c.id for c in children} if hierarchical else {s.id for s in segments}
        stale = await collection.node_ids(document_id=document_id) - expected
        if stale:
            await collection.delete(node_ids=stale)
        todo = [s for s in segments if s.status != "completed"]
        searchable = document.enabled and not document.archived
        embedder = await self.embedder(dataset) if dataset.indexing_technique == "high_quality" else None
        if not todo:
            await self._finish(document_id, started)
            return
        for start in range(0, len(todo), SEGMENT_BATCH):
            batch = todo[start : start + SEGMENT_BATCH]
            units = [unit for segment in batch for unit in _units(segment, by_segment, hierarchical)]
            vectors: list[list[float]] | list[None]
            if embedder is not None:
                vectors = await embedder.embed([u.embed_text for u in units])
            else:
                vectors = [None] * len(units)
            enabled = {s.id: s.enabled and searchable for s in batch}
            await collection.upsert(
                [
                    IndexEntry(
                        node_id=unit.node_id,
                        segment_id=unit.segment_id,
                        document_id=document_id,
                        text=unit.search_text,
                        vector=vector,
                        enabled=enabled[unit.segment_id],
                    )
                    for unit, vector in zip(units, vectors, strict=True)
                ]
            )
            now = utcnow()
            async with self._db.transaction() as session:
                await session.execute(
                    update(Segment)
                    .where(Segment.id.in_([s.id for s in batch]))
                    .values(status="completed", indexing_at=now, completed_at=now)
                )
                if hierarchical:
                    await session.execute(
                        update(ChildChunk)
                        .where(ChildChunk.segment_id.in_([s.id for s in batch]))
                        .values(indexing_at=now, completed_at=now)
                    )
                alive = await session.get(Document, document_id)
                if alive is None or alive.indexing_status not in RUNNING_STATES:
                    raise _Gone()
                if start + SEGMENT_BATCH >= len(todo):
                    alive.indexing_status = "completed"
                    alive.completed_at = utcnow()
                    alive.indexing_latency = round(time.monotonic() - started, 3)
                    alive.error = None

    async def _finish(self, document_id: str, started: float) -> None:
        await self._set(
            document_id,
            indexing_status="completed",
            completed_at=utcnow(),
            indexing_latency=round(time.monotonic() - started, 3),
            error=None,
        )

    async def _fail(self, document_id: str, message: str) -> None:
        log.info("indexing.document_failed", document_id=document_id, error=message)
        async with self._db.transaction() as session:
            await session.execute(
                update(Document)
                .where(Document.id == document_id, Document.indexing_status.in_(RUNNING_STATES))
                .values(indexing_status="error", error=message[:2000], stopped_at=utcnow())
            )

    async def progress(self, document_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """(completed, total) segments per document."""
        async with self._db.reader() as session:
            rows = await session.execute(
                select(Segment.document_id, func.count().filter(Segment.status == "completed"), func.count())
                .where(Segment.document_id.in_(list(document_ids)))
                .group_by(Segment.document_id)
            )
            found = {row[0]: (int(row[1]), int(row[2])) for row in rows}
        return {i: found.get(i, (0, 0)) for i in document_ids}


class _Gone(Exception):
    """The document was deleted, or taken out of indexing, while its job ran."""


def _units(segment: Segment, children: dict[str, list[ChildChunk]], hierarchical: bool) -> list[_Unit]:
    if hierarchical:
        return [_Unit(c.id, segment.id, c.content, c.content) for c in children.get(segment.id, [])]
    search = segment.content if not segment.answer else f"{segment.content}\n{segment.answer}"
    return [_Unit(segment.id, segment.id, segment.content, search)]


def timestamps(document: Document) -> dict[str, datetime | None]:
    return {
        "processing_started_at": document.processing_started_at,
        "parsing_completed_at": document.parsing_completed_at,
        "cleaning_completed_at": document.cleaning_completed_at,
        "splitting_completed_at": document.splitting_completed_at,
        "completed_at": document.completed_at,
        "paused_at": document.paused_at,
        "stopped_at": document.stopped_at,
    }
