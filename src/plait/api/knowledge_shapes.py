"""Knowledge objects as Dify's Knowledge API writes them (datasets, documents, segments,
child chunks, retrieval records), shared by the Service API and the console."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from plait.app.datasets import DatasetFacts, retrieval_model_of
from plait.app.knowledge_documents import DocumentFacts, display_status
from plait.app.knowledge_indexing import timestamps
from plait.storage.db.tables import ChildChunk, Dataset, Document, Segment


def ts(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def dataset_item(dataset: Dataset, facts: DatasetFacts, *, tags: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "name": dataset.name,
        "description": dataset.description or None,
        "provider": dataset.provider,
        "permission": dataset.permission,
        "data_source_type": dataset.data_source_type,
        "indexing_technique": dataset.indexing_technique,
        "app_count": facts.app_count,
        "document_count": facts.document_count,
        "word_count": facts.word_count,
        "created_by": dataset.created_by,
        "author_name": None,
        "created_at": ts(dataset.created_at),
        "updated_by": dataset.updated_by,
        "updated_at": ts(dataset.updated_at),
        "embedding_model": dataset.embedding_model,
        "embedding_model_provider": dataset.embedding_model_provider,
        "embedding_available": True,
        "retrieval_model_dict": retrieval_model_of(dataset),
        "summary_index_setting": None,
        "tags": tags if tags is not None else [{"id": tag_id} for tag_id in facts.tag_ids],
        "doc_form": dataset.doc_form,
        "external_knowledge_info": None,
        "external_retrieval_model": None,
        "doc_metadata": [],
        "built_in_field_enabled": dataset.built_in_field_enabled,
        "pipeline_id": None,
        "runtime_mode": "general",
        "chunk_structure": None,
        "icon_info": None,
        "is_published": False,
        "total_documents": facts.document_count,
        "total_available_documents": facts.available_document_count,
        "enable_api": dataset.enable_api,
        "is_multimodal": False,
        "maintainer": None,
        "partial_member_list": list(facts.partial_member_ids),
    }


def data_source_detail(document: Document, upload: dict[str, Any] | None) -> dict[str, Any]:
    if upload is not None:
        return {"upload_file": upload}
    return {}


def document_item(document: Document, *, upload: dict[str, Any] | None = None) -> dict[str, Any]:
    info = dict(document.data_source_info or {})
    return {
        "id": document.id,
        "position": document.position,
        "data_source_type": document.data_source_type,
        "data_source_info": info,
        "data_source_detail_dict": data_source_detail(document, upload),
        "dataset_process_rule_id": document.process_rule_id,
        "name": document.name,
        "created_from": document.created_from,
        "created_by": document.created_by,
        "created_at": ts(document.created_at),
        "tokens": document.tokens,
        "indexing_status": document.indexing_status,
        "error": document.error,
        "enabled": document.enabled,
        "disabled_at": ts(document.disabled_at),
        "disabled_by": document.disabled_by,
        "archived": document.archived,
        "display_status": display_status(document),
        "word_count": document.word_count,
        "hit_count": document.hit_count,
        "doc_form": document.doc_form,
        "doc_language": document.doc_language,
        "doc_metadata": [
            {"id": None, "name": name, "type": _metadata_type(value), "value": value}
            for name, value in (document.doc_metadata or {}).items()
        ],
        "summary_index_status": None,
        "need_summary": False,
    }


def document_detail(
    document: Document,
    facts: DocumentFacts,
    *,
    dataset_rule: dict[str, Any] | None,
    document_rule: dict[str, Any] | None,
    upload: dict[str, Any] | None = None,
    metadata: str = "all",
) -> dict[str, Any]:
    item = document_item(document, upload=upload)
    if metadata == "only":
        return {"id": document.id, "doc_type": None, "doc_metadata": item["doc_metadata"]}
    item |= {
        "dataset_process_rule": dataset_rule,
        "document_process_rule": document_rule,
        "segment_count": facts.segment_count,
        "average_segment_length": round(facts.average_segment_length),
        "indexing_latency": document.indexing_latency,
        "completed_at": ts(document.completed_at),
        "updated_at": ts(document.updated_at),
        "doc_type": None,
    }
    if metadata == "without":
        item.pop("doc_metadata")
    return item


def indexing_status_item(document: Document, completed: int, total: int) -> dict[str, Any]:
    return (
        {"id": document.id, "indexing_status": document.indexing_status}
        | {name: ts(value) for name, value in timestamps(document).items()}
        | {"error": document.error, "completed_segments": completed, "total_segments": total}
    )


def child_chunk_item(child: ChildChunk, *, score: float | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": child.id,
        "segment_id": child.segment_id,
        "content": child.content,
        "position": child.position,
        "word_count": child.word_count,
        "type": child.type,
        "created_at": ts(child.created_at),
        "updated_at": ts(child.updated_at),
    }
    if score is not None:
        item["score"] = score
    return item


def segment_item(segment: Segment, *, children: list[ChildChunk] | None = None) -> dict[str, Any]:
    return {
        "id": segment.id,
        "position": segment.position,
        "document_id": segment.document_id,
        "content": segment.content,
        "sign_content": segment.content,
        "answer": segment.answer,
        "word_count": segment.word_count,
        "tokens": segment.tokens,
        "keywords": list(segment.keywords or []),
        "index_node_id": segment.index_node_id,
        "index_node_hash": segment.index_node_hash,
        "hit_count": segment.hit_count,
        "enabled": segment.enabled,
        "disabled_at": ts(segment.disabled_at),
        "disabled_by": segment.disabled_by,
        "status": segment.status,
        "created_by": segment.created_by,
        "created_at": ts(segment.created_at),
        "updated_at": ts(segment.updated_at),
        "indexing_at": ts(segment.indexing_at),
        "completed_at": ts(segment.completed_at),
        "error": segment.error,
        "stopped_at": ts(segment.stopped_at),
        "child_chunks": [child_chunk_item(c) for c in children or []],
        "attachments": [],
        "summary": None,
    }


def _metadata_type(value: Any) -> str:
    if isinstance(value, bool):
        return "string"
    if isinstance(value, (int, float)):
        return "number"
    return "string"
