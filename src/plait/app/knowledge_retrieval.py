"""Retrieval from knowledge bases: one code path for the Knowledge API's ``/retrieve`` (hit
testing), the knowledge-retrieval node and chat apps' dataset configs.

The search itself is ``rag.retrieve`` over each dataset's collection; this module supplies
what it needs from the workspace (embedding and rerank models, the texts a rerank model
reads, the documents that pass a metadata filter) and turns hits back into segments,
documents and matched child chunks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import func, select

from plait.app.knowledge_routing import automatic_conditions, choose_dataset
from plait.app.model_resolver import ModelResolver
from plait.engine.services import Models
from plait.errors import BadRequest, InvalidInput, NotFound
from plait.ids import is_uuid
from plait.rag.metadata_filter import BUILT_IN_FIELDS, FieldType, compile_filter
from plait.rag.retrieval_settings import (
    RerankModel,
    RetrievalSettings,
    parse_multiple_retrieval_config,
    parse_retrieval_model,
)
from plait.rag.retrieve import DatasetSource, RetrievedNode, retrieve
from plait.storage.db import Database
from plait.storage.db.tables import ChildChunk, Dataset, DatasetMetadataField, Document, Segment
from plait.storage.index.base import ANY, IndexStore, SearchFilter


class DatasetNotInitialized(BadRequest):
    code = "dataset_not_initialized"


@dataclass(frozen=True)
class RetrievedSegment:
    dataset: Dataset
    document: Document
    segment: Segment
    score: float
    children: list[tuple[ChildChunk, float]] = field(default_factory=list)


def built_in_metadata(document: Document) -> dict[str, Any]:
    """Dify's built-in metadata fields, as values a filter can compare."""
    return {
        "document_name": document.name,
        "uploader": document.created_by or "",
        "upload_date": int(document.created_at.timestamp()),
        "last_update_date": int(document.updated_at.timestamp()),
        "source": document.data_source_type,
    }


class KnowledgeRetrieval:
    def __init__(self, db: Database, index: IndexStore, models: ModelResolver) -> None:
        self._db = db
        self._index = index
        self._models = models

    async def datasets(self, workspace_id: str, dataset_ids: Sequence[str]) -> list[Dataset]:
        """The workspace's datasets among ``dataset_ids``, in that order (others are skipped,
        as Dify skips datasets that were deleted since an app was configured)."""
        wanted = [i for i in dict.fromkeys(dataset_ids) if is_uuid(i)]
        if not wanted:
            return []
        async with self._db.reader() as session:
            rows = await session.execute(
                select(Dataset).where(Dataset.workspace_id == workspace_id, Dataset.id.in_(wanted))
            )
            found = {d.id: d for d in rows.scalars()}
        return [found[i] for i in wanted if i in found]

    async def hit_test(
        self, dataset: Dataset, query: str, retrieval_model: Mapping[str, Any] | None
    ) -> list[RetrievedSegment]:
        """``POST /datasets/{id}/retrieve``: the dataset's own settings, overridden by the body's."""
        if not query.strip():
            raise InvalidInput("query is required", params="query")
        if len(query) > 250:
            raise InvalidInput("Query cannot exceed 250 characters", params="query")
        await self._check_initialized(dataset)
        own = parse_retrieval_model(dataset.retrieval_model)
        settings = parse_retrieval_model(retrieval_model, default=own)
        conditions = (retrieval_model or {}).get("metadata_filtering_conditions")
        return await self.search(dataset.workspace_id, [dataset], query, settings, conditions=conditions, own=False)

    async def _check_initialized(self, dataset: Dataset) -> None:
        if dataset.indexing_technique is None:
            raise DatasetNotInitialized("Dataset not initialized.")
        async with self._db.reader() as session:
            completed = (
                await session.execute(
                    select(func.count())
                    .select_from(Segment)
                    .where(Segment.dataset_id == dataset.id, Segment.status == "completed")
                    .limit(1)
                )
            ).scalar_one()
        if not completed:
            raise DatasetNotInitialized("Dataset not initialized.")

    async def search(
        self,
        workspace_id: str,
        datasets: Sequence[Dataset],
        query: str,
        settings: RetrievalSettings,
        *,
        conditions: Mapping[str, Any] | None = None,
        own: bool = True,
    ) -> list[RetrievedSegment]:
        """The best segments for ``query``. With ``own`` each dataset searches by its own
        settings and ``settings`` says how the results merge (the node's multiple mode);
        without, ``settings`` is the search for every dataset (hit testing)."""
        if not datasets or not query.strip():
            return []
        filters = await self._filters(datasets, conditions)
        sources = []
        for dataset in datasets:
            where = filters.get(dataset.id, ANY)
            dataset_settings = parse_retrieval_model(dataset.retrieval_model) if own else settings
            if dataset.indexing_technique == "economy" and dataset_settings.uses_vectors:
                dataset_settings = RetrievalSettings("keyword_search", dataset_settings.top_k)
            embedder = None
            if dataset.indexing_technique == "high_quality" and dataset_settings.uses_vectors:
                embedder = await self._models.embedding_model(
                    workspace_id, dataset.embedding_model_provider or "", dataset.embedding_model or ""
                )
            sources.append(
                DatasetSource(
                    dataset_id=dataset.id,
                    index=await self._index.collection(dataset.id),
                    embedder=embedder,
                    where=where,
                    settings=dataset_settings,
                    embedding_key=f"{dataset.embedding_model_provider}/{dataset.embedding_model}",
                )
            )
        reranker = None
        if isinstance(settings.reranking, RerankModel):
            reranker = await self._models.for_workspace(workspace_id).reranker(
                settings.reranking.provider, settings.reranking.model
            )
        nodes = await retrieve(query, sources, settings=settings, reranker=reranker, load_texts=self._texts)
        return await self._segments(datasets, nodes)

    async def metadata_fields(self, datasets: Sequence[Dataset]) -> dict[str, FieldType]:
        """The metadata fields the datasets declare (with the built-in ones when a dataset
        shows them), by name: what a model writing a filter may use."""
        async with self._db.reader() as session:
            declared = await session.execute(
                select(DatasetMetadataField.name, DatasetMetadataField.type).where(
                    DatasetMetadataField.dataset_id.in_([d.id for d in datasets])
                )
            )
            fields: dict[str, FieldType] = {name: cast(FieldType, kind) for name, kind in declared}
        if any(d.built_in_field_enabled for d in datasets):
            fields = {**BUILT_IN_FIELDS, **fields}
        return fields

    async def _filters(
        self, datasets: Sequence[Dataset], conditions: Mapping[str, Any] | None
    ) -> dict[str, SearchFilter]:
        if not conditions or not conditions.get("conditions"):
            return {}
        ids = [d.id for d in datasets]
        async with self._db.reader() as session:
            declared = await session.execute(
                select(DatasetMetadataField.name, DatasetMetadataField.type).where(
                    DatasetMetadataField.dataset_id.in_(ids)
                )
            )
            fields = {name: kind for name, kind in declared}
            compiled = compile_filter(conditions, fields=fields)  # type: ignore[arg-type]
            rows = await session.execute(
                select(Document).where(
                    Document.dataset_id.in_(ids),
                    Document.enabled.is_(True),
                    Document.archived.is_(False),
                )
            )
            allowed: dict[str, set[str]] = {i: set() for i in ids}
            for document in rows.scalars():
                metadata = built_in_metadata(document) | dict(document.doc_metadata or {})
                if compiled.matches(metadata):
                    allowed[document.dataset_id].add(document.id)
        return {dataset_id: SearchFilter(document_ids=found) for dataset_id, found in allowed.items()}

    async def _texts(self, node_ids: list[str]) -> dict[str, str]:
        """What a rerank model reads for each node: a segment's content (with its answer),
        or a child chunk's."""
        ids = [i for i in node_ids if is_uuid(i)]
        if not ids:
            return {}
        async with self._db.reader() as session:
            segments = await session.execute(
                select(Segment.id, Segment.content, Segment.answer).where(Segment.id.in_(ids))
            )
            texts = {sid: content if not answer else f"{content}\n{answer}" for sid, content, answer in segments}
            missing = [i for i in ids if i not in texts]
            if missing:
                children = await session.execute(
                    select(ChildChunk.id, ChildChunk.content).where(ChildChunk.id.in_(missing))
                )
                texts.update({child_id: content for child_id, content in children})
        return texts

    async def _segments(self, datasets: Sequence[Dataset], nodes: Sequence[RetrievedNode]) -> list[RetrievedSegment]:
        if not nodes:
            return []
        by_id = {d.id: d for d in datasets}
        segment_ids = [n.segment_id for n in nodes]
        child_ids = [m.node_id for n in nodes for m in n.matches if m.node_id != n.segment_id]
        async with self._db.reader() as session:
            segments = {
                s.id: s for s in (await session.execute(select(Segment).where(Segment.id.in_(segment_ids)))).scalars()
            }
            documents = {
                d.id: d
                for d in (
                    await session.execute(
                        select(Document).where(Document.id.in_({s.document_id for s in segments.values()}))
                    )
                ).scalars()
            }
            children = {}
            if child_ids:
                children = {
                    c.id: c
                    for c in (await session.execute(select(ChildChunk).where(ChildChunk.id.in_(child_ids)))).scalars()
                }
        found = []
        for node in nodes:
            segment = segments.get(node.segment_id)
            if segment is None or not segment.enabled:
                continue  # deleted or disabled since the index was written
            document = documents.get(segment.document_id)
            if document is None or not document.enabled or document.archived:
                continue
            matched = [(children[m.node_id], m.score) for m in node.matches if m.node_id in children]
            matched.sort(key=lambda pair: pair[0].position)
            found.append(RetrievedSegment(by_id[node.dataset_id], document, segment, node.score, matched))
        return found

    def for_workspace(self, workspace_id: str) -> WorkspaceRetriever:
        return WorkspaceRetriever(self, workspace_id, self._models.for_workspace(workspace_id))


def context_record(hit: RetrievedSegment, position: int) -> dict[str, Any]:
    """A knowledge-retrieval node's ``result`` item, as Dify writes it."""
    segment, document, dataset = hit.segment, hit.document, hit.dataset
    content = segment.content
    if segment.answer:
        content = f"question:{segment.content} \nanswer:{segment.answer}"
    if hit.children:
        content = "\n".join(child.content for child, _ in hit.children) or content
    return {
        "metadata": {
            "_source": "knowledge",
            "position": position,
            "dataset_id": dataset.id,
            "dataset_name": dataset.name,
            "document_id": document.id,
            "document_name": document.name,
            "data_source_type": document.data_source_type,
            "segment_id": segment.id,
            "retriever_from": "workflow",
            "score": hit.score,
            "child_chunks": [
                {"id": child.id, "content": child.content, "position": child.position, "score": score}
                for child, score in hit.children
            ],
            "segment_hit_count": segment.hit_count,
            "segment_word_count": segment.word_count,
            "segment_position": segment.position,
            "segment_index_node_hash": segment.index_node_hash,
            "doc_metadata": dict(document.doc_metadata or {}),
        },
        "title": document.name,
        "content": content,
    }


def retriever_resource(record: Mapping[str, Any]) -> dict[str, Any]:
    """A chat answer's ``retriever_resources`` item, from a node's result item."""
    metadata = record.get("metadata") or {}
    return {
        "position": metadata.get("position"),
        "dataset_id": metadata.get("dataset_id"),
        "dataset_name": metadata.get("dataset_name"),
        "document_id": metadata.get("document_id"),
        "document_name": metadata.get("document_name"),
        "data_source_type": metadata.get("data_source_type"),
        "segment_id": metadata.get("segment_id"),
        "retriever_from": metadata.get("retriever_from", "workflow"),
        "score": metadata.get("score"),
        "hit_count": metadata.get("segment_hit_count"),
        "word_count": metadata.get("segment_word_count"),
        "segment_position": metadata.get("segment_position"),
        "index_node_hash": metadata.get("segment_index_node_hash"),
        "content": record.get("content"),
        "page": None,
        "doc_metadata": metadata.get("doc_metadata"),
    }


@dataclass(frozen=True)
class WorkspaceRetriever:
    """The engine's :class:`~plait.engine.services.Retriever` for one workspace.

    The node's modes settle here: ``single`` lets a model route the query to one dataset,
    searched by its own settings; ``multiple`` searches them all and merges by the node's
    ``multiple_retrieval_config``. Metadata filtering takes the node's conditions
    (``manual``) or a model's (``automatic``); both then filter the same way."""

    retrieval: KnowledgeRetrieval
    workspace_id: str
    models: Models

    async def retrieve(self, query: str, dataset_ids: Sequence[str], config: Mapping[str, Any]) -> list[dict[str, Any]]:
        datasets = await self.retrieval.datasets(self.workspace_id, dataset_ids)
        if not datasets:
            raise NotFound("none of the knowledge bases this node reads exists in the workspace")
        if not query.strip():
            return []
        conditions = await self._conditions(query, datasets, config)
        if config.get("retrieval_mode") == "single":
            model_config = (config.get("single_retrieval_config") or {}).get("model") or {}
            model = await self.models.chat(model_config) if len(datasets) > 1 else None
            chosen = datasets[0] if model is None else await choose_dataset(model, model_config, query, datasets)
            if chosen is None:
                return []
            datasets = [chosen]
            settings = parse_retrieval_model(chosen.retrieval_model)
        else:
            settings = parse_multiple_retrieval_config(config.get("multiple_retrieval_config"))
        hits = await self.retrieval.search(self.workspace_id, datasets, query, settings, conditions=conditions)
        return [context_record(hit, position) for position, hit in enumerate(hits, start=1)]

    async def _conditions(
        self, query: str, datasets: Sequence[Dataset], config: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        mode = config.get("metadata_filtering_mode")
        if mode == "manual":
            conditions: Mapping[str, Any] | None = config.get("metadata_filtering_conditions")
            return conditions
        if mode != "automatic":
            return None
        fields = await self.retrieval.metadata_fields(datasets)
        if not fields:
            return None
        model_config = config.get("metadata_model_config") or {}
        return await automatic_conditions(await self.models.chat(model_config), model_config, query, fields)
