"""Segments and child chunks of a knowledge-base document, edited by hand: create, list,
change and delete them, keeping the knowledge index in step.

The database is the source of truth and every change reaches the index in the same
request: texts are embedded *before* anything is written (a model failure changes
nothing), the rows commit, then the index is written under the rows' own ids (an upsert
replaces, a delete of what is not there is no error), so repeating a request repairs an
index that a crash between the two left behind. A segment whose index write failed is
marked ``error`` with the reason, as Dify marks it.

What the index holds follows the indexing job (``knowledge_indexing``): one entry per
segment in text and Q&A documents (its content embedded, content and answer searched), one
per child chunk in parent-child documents; an entry is enabled when its segment and
document are, and the document is not archived; ``economy`` datasets have no vectors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.app.annotations import NumberedPage, check_page, workspace_owner
from plait.app.audit import Actor, record
from plait.app.datasets import Datasets
from plait.app.knowledge_documents import document_not_found
from plait.app.knowledge_indexing import content_hash, word_count
from plait.errors import InvalidInput, NotFound
from plait.ids import is_uuid, new_id
from plait.providers.tokens import count_tokens
from plait.rag.chunk import split_text
from plait.rag.embed import BatchingEmbedder
from plait.rag.process_rules import DEFAULT_CHILD_SEGMENTATION, parse_process_rule
from plait.storage.db import Database
from plait.storage.db.tables import ChildChunk, Dataset, Document, ProcessRule, Segment
from plait.storage.db.types import utcnow
from plait.storage.index.base import IndexEntry, IndexStore

MAX_SEGMENTS_PER_REQUEST = 1000  # Dify's DATASET_MAX_SEGMENTS_PER_REQUEST default
MAX_KEYWORDS = 100
SEGMENT_STATUSES = ("waiting", "indexing", "completed", "error", "re_segment")

EmbedderFor = Callable[[Dataset], Awaitable[BatchingEmbedder]]


def segment_not_found() -> NotFound:
    return NotFound("Segment not found.")


def child_chunk_not_found() -> NotFound:
    return NotFound("Child chunk not found.")


@dataclass(frozen=True)
class SegmentsOf:
    """Segments with their child chunks (parent-child documents) and the document's form."""

    segments: list[Segment]
    children: dict[str, list[ChildChunk]]
    doc_form: str


@dataclass(frozen=True)
class SegmentPage:
    page: NumberedPage[Segment]
    children: dict[str, list[ChildChunk]] = field(default_factory=dict)
    doc_form: str = "text_model"


@dataclass(frozen=True)
class _Draft:
    content: str
    answer: str | None
    keywords: list[str]


def _content(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("Content is empty", params="content")
    return raw


def _keywords(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        raise InvalidInput("keywords must be a list of strings", params="keywords")
    if len(raw) > MAX_KEYWORDS:
        raise InvalidInput(f"keywords must hold at most {MAX_KEYWORDS} items", params="keywords")
    return [k for k in dict.fromkeys(k.strip() for k in raw) if k]


def _answer(raw: Any, doc_form: str) -> str | None:
    """Q&A documents need an answer (Dify: "Answer is required"); others keep none."""
    if doc_form != "qa_model":
        return None
    if raw is None or raw == "":
        raise InvalidInput("Answer is required", params="answer")
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("Answer is empty", params="answer")
    return raw


def _draft(raw: Any, doc_form: str) -> _Draft:
    if not isinstance(raw, Mapping):
        raise InvalidInput("each segment must be an object with content", params="segments")
    return _Draft(_content(raw.get("content")), _answer(raw.get("answer"), doc_form), _keywords(raw.get("keywords")))


def _segment_words(content: str, answer: str | None) -> int:
    return word_count(content) + word_count(answer or "")


def _segment_tokens(content: str, answer: str | None) -> int:
    return count_tokens(content) + (count_tokens(answer) if answer else 0)


def _search_text(segment: Segment) -> str:
    return segment.content if not segment.answer else f"{segment.content}\n{segment.answer}"


def _searchable(document: Document) -> bool:
    return document.enabled and not document.archived


class KnowledgeSegments:
    def __init__(self, db: Database, datasets: Datasets, index: IndexStore, *, embedder: EmbedderFor) -> None:
        self._db = db
        self._datasets = datasets
        self._index = index
        self._embedder = embedder

    # -- helpers --------------------------------------------------------------------------

    async def _vectors(self, dataset: Dataset, texts: Sequence[str]) -> list[list[float]] | list[None]:
        if not texts:
            return []
        if dataset.indexing_technique != "high_quality":
            return [None] * len(texts)
        embedder = await self._embedder(dataset)
        return await embedder.embed(list(texts))

    async def document(self, dataset: Dataset, document_id: str) -> Document:
        if not is_uuid(document_id):
            raise document_not_found()
        async with self._db.reader() as session:
            document = await session.get(Document, document_id)
        if document is None or document.dataset_id != dataset.id:
            raise document_not_found()
        return document

    @staticmethod
    async def _segment_in(session: AsyncSession, document: Document, segment_id: str) -> Segment:
        segment = await session.get(Segment, segment_id) if is_uuid(segment_id) else None
        if segment is None or segment.document_id != document.id:
            raise segment_not_found()
        return segment

    @staticmethod
    async def _child_in(session: AsyncSession, segment: Segment, child_id: str) -> ChildChunk:
        child = await session.get(ChildChunk, child_id) if is_uuid(child_id) else None
        if child is None or child.segment_id != segment.id:
            raise child_chunk_not_found()
        return child

    async def _child_splitter(self, document: Document) -> Callable[[str], list[str]]:
        """How the document's process rule cuts a parent into children."""
        async with self._db.reader() as session:
            stored = await session.get(ProcessRule, document.process_rule_id) if document.process_rule_id else None
        raw = {"mode": stored.mode, "rules": stored.rules} if stored is not None else None
        rule = parse_process_rule(raw, doc_form=document.doc_form)
        segmentation = rule.subchunk_segmentation or DEFAULT_CHILD_SEGMENTATION
        return lambda text: [chunk.content for chunk in split_text(text, segmentation)]

    @staticmethod
    def _children_rows(
        document: Document, segment: Segment, contents: Sequence[str], owner: str | None, *, start: int = 1
    ) -> list[ChildChunk]:
        now = utcnow()
        rows = []
        for position, content in enumerate(contents, start=start):
            child_id = new_id()
            rows.append(
                ChildChunk(
                    id=child_id,
                    workspace_id=document.workspace_id,
                    dataset_id=document.dataset_id,
                    document_id=document.id,
                    segment_id=segment.id,
                    position=position,
                    content=content,
                    word_count=word_count(content),
                    index_node_id=child_id,
                    index_node_hash=content_hash(content),
                    type="automatic",
                    created_by=owner,
                    indexing_at=now,
                    completed_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
        return rows

    async def _owner(self, actor: Actor, workspace_id: str) -> str | None:
        if actor.account_id:
            return actor.account_id
        async with self._db.reader() as session:
            return await workspace_owner(session, workspace_id)

    async def _mark_error(self, segment_ids: Sequence[str], error: Exception) -> None:
        async with self._db.transaction() as session:
            for segment_id in segment_ids:
                segment = await session.get(Segment, segment_id)
                if segment is not None:
                    segment.status, segment.error = "error", f"{type(error).__name__}: {error}"[:2000]

    async def _children_of(self, segment_ids: Sequence[str]) -> dict[str, list[ChildChunk]]:
        if not segment_ids:
            return {}
        async with self._db.reader() as session:
            rows = await session.execute(
                select(ChildChunk)
                .where(ChildChunk.segment_id.in_(list(segment_ids)))
                .order_by(ChildChunk.segment_id, ChildChunk.position)
            )
            found: dict[str, list[ChildChunk]] = {}
            for child in rows.scalars():
                found.setdefault(child.segment_id, []).append(child)
        return found

    # -- segments -------------------------------------------------------------------------

    async def create(self, dataset: Dataset, actor: Actor, document_id: str, items: Sequence[Any]) -> SegmentsOf:
        """Add segments after the document's last one, embedded and indexed now."""
        document = await self.document(dataset, document_id)
        if len(items) > MAX_SEGMENTS_PER_REQUEST:
            raise InvalidInput(f"Exceeded maximum segments limit of {MAX_SEGMENTS_PER_REQUEST}.", params="segments")
        if not items:
            raise InvalidInput("Segments is required", params="segments")
        # Dify answers these with 404s.
        if document.indexing_status != "completed":
            raise NotFound("Document is not completed.")
        if not document.enabled:
            raise NotFound("Document is disabled.")
        drafts = [_draft(item, document.doc_form) for item in items]
        hierarchical = document.doc_form == "hierarchical_model"
        split = await self._child_splitter(document) if hierarchical else None
        child_texts = [split(d.content) for d in drafts] if split is not None else [[] for _ in drafts]
        embed_texts = [t for texts in child_texts for t in texts] if hierarchical else [d.content for d in drafts]
        vectors = await self._vectors(dataset, embed_texts)
        owner = await self._owner(actor, dataset.workspace_id)
        now = utcnow()
        async with self._db.transaction() as session:
            row = await session.get(Document, document.id)
            if row is None:
                raise document_not_found()
            last = (
                await session.execute(
                    select(func.coalesce(func.max(Segment.position), 0)).where(Segment.document_id == document.id)
                )
            ).scalar_one()
            segments: list[Segment] = []
            children: dict[str, list[ChildChunk]] = {}
            for offset, draft in enumerate(drafts, start=1):
                segment_id = new_id()
                segment = Segment(
                    id=segment_id,
                    workspace_id=dataset.workspace_id,
                    dataset_id=dataset.id,
                    document_id=document.id,
                    position=int(last) + offset,
                    content=draft.content,
                    answer=draft.answer,
                    word_count=_segment_words(draft.content, draft.answer),
                    tokens=_segment_tokens(draft.content, draft.answer),
                    keywords=draft.keywords,
                    index_node_id=segment_id,
                    index_node_hash=content_hash(draft.content),
                    enabled=True,
                    status="completed",
                    created_by=owner,
                    indexing_at=now,
                    completed_at=now,
                    created_at=now,
                    updated_at=now,
                )
                segments.append(segment)
            session.add_all(segments)
            await session.flush()
            for segment, texts in zip(segments, child_texts, strict=True):
                if texts:
                    children[segment.id] = self._children_rows(row, segment, texts, owner)
                    session.add_all(children[segment.id])
            row.word_count += sum(s.word_count for s in segments)
            row.tokens += sum(s.tokens for s in segments)
            record(
                session,
                actor,
                "segment.create",
                workspace_id=dataset.workspace_id,
                target_type="document",
                target_id=document.id,
                detail={"segment_ids": [s.id for s in segments]},
            )
            searchable = _searchable(row)
        if hierarchical:
            units = [(c.id, s.id, c.content) for s in segments for c in children.get(s.id, [])]
        else:
            units = [(s.id, s.id, _search_text(s)) for s in segments]
        try:
            collection = await self._index.collection(dataset.id)
            await collection.upsert(
                [
                    IndexEntry(node_id, segment_id, document.id, text, vector, searchable)
                    for (node_id, segment_id, text), vector in zip(units, vectors, strict=True)
                ]
            )
        except Exception as error:
            await self._mark_error([s.id for s in segments], error)
            raise
        return SegmentsOf(segments, children, document.doc_form)

    async def page(
        self,
        dataset: Dataset,
        document_id: str,
        *,
        page: int,
        limit: int,
        status: Sequence[str] = (),
        keyword: str | None = None,
    ) -> SegmentPage:
        document = await self.document(dataset, document_id)
        check_page(page, limit)
        conditions: list[Any] = [Segment.document_id == document.id]
        statuses = [s for s in status if s]
        if statuses:
            unknown = sorted(set(statuses) - set(SEGMENT_STATUSES))
            if unknown:
                raise InvalidInput(
                    f"status must be among {', '.join(SEGMENT_STATUSES)}, not {', '.join(unknown)}", params="status"
                )
            conditions.append(Segment.status.in_(statuses))
        if keyword:
            conditions.append(Segment.content.icontains(keyword, autoescape=True))
        async with self._db.reader() as session:
            total = (await session.execute(select(func.count()).select_from(Segment).where(*conditions))).scalar_one()
            rows = await session.execute(
                select(Segment).where(*conditions).order_by(Segment.position).offset((page - 1) * limit).limit(limit)
            )
            items = list(rows.scalars())
        children = await self._children_of([s.id for s in items]) if document.doc_form == "hierarchical_model" else {}
        return SegmentPage(NumberedPage(items, int(total), page, limit), children, document.doc_form)

    async def get(self, dataset: Dataset, document_id: str, segment_id: str) -> SegmentsOf:
        document = await self.document(dataset, document_id)
        async with self._db.reader() as session:
            segment = await self._segment_in(session, document, segment_id)
        return SegmentsOf([segment], await self._children_of([segment.id]), document.doc_form)

    async def update(
        self, dataset: Dataset, actor: Actor, document_id: str, segment_id: str, body: Mapping[str, Any]
    ) -> SegmentsOf:
        """Dify's segment update: ``enabled: false`` disables the segment (and changes
        nothing else); a disabled segment changes only when the same request enables it;
        new content or answer is embedded and indexed again; in parent-child documents
        ``regenerate_child_chunks`` cuts the children anew from the content."""
        document = await self.document(dataset, document_id)
        async with self._db.reader() as session:
            current = await self._segment_in(session, document, segment_id)
        enabled = body.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise InvalidInput("enabled must be true or false", params="enabled")
        if enabled is False:
            return await self._disable(dataset, actor, document, current)
        if not current.enabled and enabled is not True:
            raise InvalidInput("Can't update disabled segment", params="enabled")
        hierarchical = document.doc_form == "hierarchical_model"
        content = _content(body["content"]) if body.get("content") is not None else current.content
        answer = current.answer
        if document.doc_form == "qa_model" and "answer" in body:
            answer = _answer(body.get("answer"), document.doc_form)
        keywords = _keywords(body["keywords"]) if body.get("keywords") is not None else list(current.keywords or [])
        regenerate = bool(body.get("regenerate_child_chunks")) and hierarchical
        text_changed = content != current.content or answer != current.answer
        child_texts: list[str] = []
        vectors: list[list[float]] | list[None] = []
        if regenerate:
            split = await self._child_splitter(document)
            child_texts = split(content)
            vectors = await self._vectors(dataset, child_texts)
        elif text_changed and not hierarchical:
            vectors = await self._vectors(dataset, [content])
        owner = await self._owner(actor, dataset.workspace_id)
        async with self._db.transaction() as session:
            row = await session.get(Document, document.id)
            if row is None:
                raise document_not_found()
            segment = await self._segment_in(session, row, current.id)
            words, tokens = _segment_words(content, answer), _segment_tokens(content, answer)
            row.word_count += words - segment.word_count
            row.tokens += tokens - segment.tokens
            segment.content, segment.answer, segment.keywords = content, answer, keywords
            segment.word_count, segment.tokens = words, tokens
            segment.index_node_hash = content_hash(content)
            segment.enabled, segment.disabled_at, segment.disabled_by = True, None, None
            segment.status, segment.error = "completed", None
            segment.updated_at = utcnow()
            new_children: list[ChildChunk] = []
            old_children: list[str] = []
            if regenerate:
                old_children = list(
                    (await session.execute(select(ChildChunk.id).where(ChildChunk.segment_id == segment.id))).scalars()
                )
                await session.execute(delete(ChildChunk).where(ChildChunk.segment_id == segment.id))
                new_children = self._children_rows(row, segment, child_texts, owner)
                session.add_all(new_children)
            record(
                session,
                actor,
                "segment.update",
                workspace_id=dataset.workspace_id,
                target_type="segment",
                target_id=segment.id,
            )
            searchable = _searchable(row)
        collection = await self._index.collection(dataset.id)
        try:
            if regenerate:
                await collection.delete(node_ids=old_children)
                await collection.upsert(
                    [
                        IndexEntry(c.id, segment.id, document.id, c.content, vector, searchable)
                        for c, vector in zip(new_children, vectors, strict=True)
                    ]
                )
            elif text_changed and not hierarchical:
                await collection.upsert(
                    [IndexEntry(segment.id, segment.id, document.id, _search_text(segment), vectors[0], searchable)]
                )
            if not current.enabled and searchable:
                await collection.set_enabled(True, segment_ids=[segment.id])
        except Exception as error:
            await self._mark_error([segment.id], error)
            raise
        return SegmentsOf([segment], await self._children_of([segment.id]), document.doc_form)

    async def _disable(self, dataset: Dataset, actor: Actor, document: Document, current: Segment) -> SegmentsOf:
        async with self._db.transaction() as session:
            segment = await self._segment_in(session, document, current.id)
            if segment.enabled:
                segment.enabled, segment.disabled_at, segment.disabled_by = False, utcnow(), actor.account_id
                record(
                    session,
                    actor,
                    "segment.disable",
                    workspace_id=dataset.workspace_id,
                    target_type="segment",
                    target_id=segment.id,
                )
        collection = await self._index.collection(dataset.id)
        await collection.set_enabled(False, segment_ids=[segment.id])
        return SegmentsOf([segment], await self._children_of([segment.id]), document.doc_form)

    async def delete(self, dataset: Dataset, actor: Actor, document_id: str, segment_id: str) -> None:
        document = await self.document(dataset, document_id)
        async with self._db.transaction() as session:
            row = await session.get(Document, document.id)
            if row is None:
                raise document_not_found()
            segment = await self._segment_in(session, row, segment_id)
            row.word_count = max(0, row.word_count - segment.word_count)
            row.tokens = max(0, row.tokens - segment.tokens)
            await session.execute(delete(ChildChunk).where(ChildChunk.segment_id == segment.id))
            await session.delete(segment)
            record(
                session,
                actor,
                "segment.delete",
                workspace_id=dataset.workspace_id,
                target_type="segment",
                target_id=segment.id,
            )
        collection = await self._index.collection(dataset.id)
        await collection.delete(segment_ids=[segment.id])

    # -- child chunks ---------------------------------------------------------------------

    async def _parent(self, dataset: Dataset, document_id: str, segment_id: str) -> tuple[Document, Segment]:
        document = await self.document(dataset, document_id)
        async with self._db.reader() as session:
            segment = await self._segment_in(session, document, segment_id)
        return document, segment

    @staticmethod
    def _check_hierarchical(document: Document) -> None:
        if document.doc_form != "hierarchical_model":
            raise InvalidInput(
                "Child chunks exist only in parent-child (hierarchical_model) documents.", params="document_id"
            )

    async def create_child(
        self, dataset: Dataset, actor: Actor, document_id: str, segment_id: str, content: Any
    ) -> ChildChunk:
        document, segment = await self._parent(dataset, document_id, segment_id)
        self._check_hierarchical(document)
        text = _content(content)
        vector = (await self._vectors(dataset, [text]))[0]
        owner = await self._owner(actor, dataset.workspace_id)
        async with self._db.transaction() as session:
            row = await session.get(Document, document.id)
            if row is None:
                raise document_not_found()
            parent = await self._segment_in(session, row, segment.id)
            last = (
                await session.execute(
                    select(func.coalesce(func.max(ChildChunk.position), 0)).where(ChildChunk.segment_id == parent.id)
                )
            ).scalar_one()
            child = self._children_rows(row, parent, [text], owner, start=int(last) + 1)[0]
            child.type = "customized"
            session.add(child)
            record(
                session,
                actor,
                "child_chunk.create",
                workspace_id=dataset.workspace_id,
                target_type="segment",
                target_id=parent.id,
            )
            enabled = parent.enabled and _searchable(row)
        collection = await self._index.collection(dataset.id)
        await collection.upsert([IndexEntry(child.id, parent.id, document.id, text, vector, enabled)])
        return child

    async def children_page(
        self, dataset: Dataset, document_id: str, segment_id: str, *, page: int, limit: int, keyword: str | None = None
    ) -> NumberedPage[ChildChunk]:
        _, segment = await self._parent(dataset, document_id, segment_id)
        check_page(page, limit)
        conditions: list[Any] = [ChildChunk.segment_id == segment.id]
        if keyword:
            conditions.append(ChildChunk.content.icontains(keyword, autoescape=True))
        async with self._db.reader() as session:
            total = (
                await session.execute(select(func.count()).select_from(ChildChunk).where(*conditions))
            ).scalar_one()
            rows = await session.execute(
                select(ChildChunk)
                .where(*conditions)
                .order_by(ChildChunk.position)
                .offset((page - 1) * limit)
                .limit(limit)
            )
            items = list(rows.scalars())
        return NumberedPage(items, int(total), page, limit)

    async def update_child(
        self, dataset: Dataset, actor: Actor, document_id: str, segment_id: str, child_id: str, content: Any
    ) -> ChildChunk:
        document, segment = await self._parent(dataset, document_id, segment_id)
        async with self._db.reader() as session:
            await self._child_in(session, segment, child_id)
        text = _content(content)
        vector = (await self._vectors(dataset, [text]))[0]
        async with self._db.transaction() as session:
            row = await session.get(Document, document.id)
            if row is None:
                raise document_not_found()
            parent = await self._segment_in(session, row, segment.id)
            child = await self._child_in(session, parent, child_id)
            child.content, child.word_count = text, word_count(text)
            child.index_node_hash = content_hash(text)
            child.type = "customized"
            child.updated_at = child.indexing_at = child.completed_at = utcnow()
            record(
                session,
                actor,
                "child_chunk.update",
                workspace_id=dataset.workspace_id,
                target_type="segment",
                target_id=parent.id,
            )
            enabled = parent.enabled and _searchable(row)
        collection = await self._index.collection(dataset.id)
        await collection.upsert([IndexEntry(child.id, parent.id, document.id, text, vector, enabled)])
        return child

    async def delete_child(
        self, dataset: Dataset, actor: Actor, document_id: str, segment_id: str, child_id: str
    ) -> None:
        _, segment = await self._parent(dataset, document_id, segment_id)
        async with self._db.transaction() as session:
            child = await self._child_in(session, segment, child_id)
            await session.delete(child)
            record(
                session,
                actor,
                "child_chunk.delete",
                workspace_id=dataset.workspace_id,
                target_type="segment",
                target_id=segment.id,
            )
        collection = await self._index.collection(dataset.id)
        await collection.delete(node_ids=[child_id])
