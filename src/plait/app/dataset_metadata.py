"""Metadata fields of a knowledge base and their values on its documents.

A field (``string``, ``number`` or ``time``) is declared on the dataset; documents hold
their values in ``doc_metadata`` *by the field's name*, as Dify stores them, which is what
retrieval's ``metadata_filtering_conditions`` compare. So renaming a field renames the key
in every document of the dataset, and deleting it removes the key, in the same transaction.

Values are checked against the field's type when they are set (Dify stores whatever it is
sent and fails later, in a filter): numbers are JSON numbers (numeric text is converted),
times are Unix seconds (ISO 8601 text is converted; naive means UTC), strings are text.

Dify's built-in fields (``document_name``, ``uploader``, ``upload_date``,
``last_update_date``, ``source``) are computed from the document when a filter runs, so
enabling or disabling them only flips the dataset's ``built_in_field_enabled``; their names
cannot be taken by a custom field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait.app.audit import Actor, record
from plait.app.datasets import not_found as dataset_not_found
from plait.app.knowledge_documents import document_not_found
from plait.errors import InvalidInput, NotFound
from plait.ids import is_uuid
from plait.rag.metadata_filter import BUILT_IN_FIELDS
from plait.storage.db import Database
from plait.storage.db.tables import METADATA_TYPES, Dataset, DatasetMetadataField, Document

MAX_NAME_LENGTH = 255
MAX_OPERATIONS = 1000
MAX_STRING_VALUE = 65_535


def metadata_not_found() -> NotFound:
    return NotFound("Metadata not found.")


def built_in_fields() -> list[dict[str, str]]:
    """``GET /datasets/metadata/built-in``'s ``fields``."""
    return [{"name": name, "type": kind} for name, kind in BUILT_IN_FIELDS.items()]


def _name(raw: Any) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name:
        raise InvalidInput("Metadata name is required.", params="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"Metadata name cannot exceed {MAX_NAME_LENGTH} characters.", params="name")
    if name in BUILT_IN_FIELDS:
        raise InvalidInput("Metadata name already exists in Built-in fields.", params="name")
    return name


def _type(raw: Any) -> str:
    if raw not in METADATA_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(METADATA_TYPES)}", params="type")
    return str(raw)


def _duplicate() -> InvalidInput:
    return InvalidInput("Metadata name already exists.", params="name")


def coerce_value(kind: str, value: Any, name: str) -> Any:
    """``value`` as a field of type ``kind`` stores it; ``None`` (no value) stays ``None``."""
    if value is None:
        return None
    problem = InvalidInput(f"metadata {name!r} is a {kind} field; {value!r} is not a {kind}", params="metadata_list")
    if kind == "string":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise problem
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_STRING_VALUE:
            raise InvalidInput(
                f"metadata {name!r} is longer than {MAX_STRING_VALUE} characters", params="metadata_list"
            )
        return text
    number = _number(value)
    if kind == "number":
        if number is None:
            raise problem
        return int(number) if number.is_integer() and not isinstance(value, float) else number
    if number is None and isinstance(value, str):
        number = _iso_seconds(value)
    if number is None:
        raise problem
    return int(number)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _iso_seconds(text: str) -> float | None:
    raw = text.strip()
    try:
        moment = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class DatasetMetadata:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def fields(self, dataset: Dataset) -> list[DatasetMetadataField]:
        async with self._db.reader() as session:
            return await self._fields(session, dataset.id)

    @staticmethod
    async def _fields(session: AsyncSession, dataset_id: str) -> list[DatasetMetadataField]:
        rows = await session.execute(
            select(DatasetMetadataField)
            .where(DatasetMetadataField.dataset_id == dataset_id)
            .order_by(DatasetMetadataField.created_at, DatasetMetadataField.id)
        )
        return list(rows.scalars())

    async def fields_shape(self, dataset: Dataset) -> list[dict[str, Any]]:
        """The dataset object's ``doc_metadata``: its fields, then the built-in ones when
        enabled (with Dify's id ``built-in``)."""
        shape: list[dict[str, Any]] = [{"id": f.id, "name": f.name, "type": f.type} for f in await self.fields(dataset)]
        if dataset.built_in_field_enabled:
            shape += [{"id": "built-in", **field} for field in built_in_fields()]
        return shape

    async def listing(self, dataset: Dataset) -> dict[str, Any]:
        """``GET /datasets/{id}/metadata``: each field with how many documents have a value."""
        async with self._db.reader() as session:
            fields = await self._fields(session, dataset.id)
            values = await session.execute(select(Document.doc_metadata).where(Document.dataset_id == dataset.id))
            counts = dict.fromkeys((f.name for f in fields), 0)
            for (metadata,) in values:
                for name in metadata or {}:
                    if name in counts and metadata[name] is not None:
                        counts[name] += 1
        return {
            "doc_metadata": [{"id": f.id, "name": f.name, "type": f.type, "count": counts[f.name]} for f in fields],
            "built_in_field_enabled": dataset.built_in_field_enabled,
        }

    async def create(self, dataset: Dataset, actor: Actor, body: Mapping[str, Any]) -> DatasetMetadataField:
        kind, name = _type(body.get("type")), _name(body.get("name"))
        field = DatasetMetadataField(
            workspace_id=dataset.workspace_id, dataset_id=dataset.id, type=kind, name=name, created_by=actor.account_id
        )
        try:
            async with self._db.transaction() as session:
                await self._check_free(session, dataset.id, name)
                session.add(field)
                await session.flush()
                record(
                    session,
                    actor,
                    "dataset_metadata.create",
                    workspace_id=dataset.workspace_id,
                    target_type="dataset",
                    target_id=dataset.id,
                    detail={"metadata_id": field.id, "name": name, "type": kind},
                )
        except IntegrityError:  # a concurrent create of the same name
            raise _duplicate() from None
        return field

    async def rename(self, dataset: Dataset, actor: Actor, metadata_id: str, name: Any) -> DatasetMetadataField:
        new = _name(name)
        try:
            async with self._db.transaction() as session:
                field = await self._field(session, dataset, metadata_id)
                old = field.name
                if new != old:
                    await self._check_free(session, dataset.id, new)
                    field.name = new
                    for document in await self._documents_with(session, dataset.id, old):
                        metadata = dict(document.doc_metadata)
                        metadata[new] = metadata.pop(old)
                        document.doc_metadata = metadata
                record(
                    session,
                    actor,
                    "dataset_metadata.rename",
                    workspace_id=dataset.workspace_id,
                    target_type="dataset",
                    target_id=dataset.id,
                    detail={"metadata_id": field.id, "from": old, "to": new},
                )
        except IntegrityError:
            raise _duplicate() from None
        return field

    async def delete(self, dataset: Dataset, actor: Actor, metadata_id: str) -> None:
        async with self._db.transaction() as session:
            field = await self._field(session, dataset, metadata_id)
            for document in await self._documents_with(session, dataset.id, field.name):
                metadata = dict(document.doc_metadata)
                metadata.pop(field.name, None)
                document.doc_metadata = metadata
            await session.delete(field)
            record(
                session,
                actor,
                "dataset_metadata.delete",
                workspace_id=dataset.workspace_id,
                target_type="dataset",
                target_id=dataset.id,
                detail={"metadata_id": field.id, "name": field.name},
            )

    async def set_built_in(self, dataset: Dataset, actor: Actor, enabled: bool) -> None:
        async with self._db.transaction() as session:
            row = await session.get(Dataset, dataset.id)
            if row is None:
                raise dataset_not_found()
            row.built_in_field_enabled = enabled
            record(
                session,
                actor,
                f"dataset_metadata.built_in_{'enable' if enabled else 'disable'}",
                workspace_id=dataset.workspace_id,
                target_type="dataset",
                target_id=dataset.id,
            )

    async def set_values(self, dataset: Dataset, actor: Actor, operations: Sequence[Any]) -> None:
        """``POST /datasets/{id}/documents/metadata``: for each document, its values of the
        listed fields; without ``partial_update`` the list replaces every value the document
        had. All operations apply, or (on any bad field, value or document) none."""
        if not isinstance(operations, Sequence) or isinstance(operations, str) or not operations:
            raise InvalidInput("operation_data must be a non-empty list", params="operation_data")
        if len(operations) > MAX_OPERATIONS:
            raise InvalidInput(f"operation_data must hold at most {MAX_OPERATIONS} items", params="operation_data")
        async with self._db.transaction() as session:
            fields = await self._fields(session, dataset.id)
            by_id = {f.id: f for f in fields}
            by_name = {f.name: f for f in fields}
            for operation in operations:
                if not isinstance(operation, Mapping):
                    raise InvalidInput("each operation must be an object", params="operation_data")
                document_id = operation.get("document_id")
                document = (
                    await session.get(Document, document_id)
                    if isinstance(document_id, str) and is_uuid(document_id)
                    else None
                )
                if document is None or document.dataset_id != dataset.id:
                    raise document_not_found()
                values = {}
                items = operation.get("metadata_list")
                if not isinstance(items, list):
                    raise InvalidInput("metadata_list must be a list", params="metadata_list")
                for item in items:
                    if not isinstance(item, Mapping):
                        raise InvalidInput("each metadata_list item must be {id, name, value}", params="metadata_list")
                    field = by_id.get(str(item.get("id"))) or by_name.get(str(item.get("name")))
                    if field is None:
                        raise metadata_not_found()
                    values[field.name] = coerce_value(field.type, item.get("value"), field.name)
                kept = dict(document.doc_metadata or {}) if operation.get("partial_update") else {}
                document.doc_metadata = kept | values
            record(
                session,
                actor,
                "dataset_metadata.set_values",
                workspace_id=dataset.workspace_id,
                target_type="dataset",
                target_id=dataset.id,
                detail={"documents": len(operations)},
            )

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    async def _field(session: AsyncSession, dataset: Dataset, metadata_id: str) -> DatasetMetadataField:
        field = await session.get(DatasetMetadataField, metadata_id) if is_uuid(metadata_id) else None
        if field is None or field.dataset_id != dataset.id:
            raise metadata_not_found()
        return field

    @staticmethod
    async def _check_free(session: AsyncSession, dataset_id: str, name: str) -> None:
        statement = select(DatasetMetadataField.id).where(
            DatasetMetadataField.dataset_id == dataset_id, DatasetMetadataField.name == name
        )
        if (await session.execute(statement)).scalar_one_or_none() is not None:
            raise _duplicate()

    @staticmethod
    async def _documents_with(session: AsyncSession, dataset_id: str, name: str) -> list[Document]:
        rows = await session.execute(select(Document).where(Document.dataset_id == dataset_id))
        return [d for d in rows.scalars() if name in (d.doc_metadata or {})]
