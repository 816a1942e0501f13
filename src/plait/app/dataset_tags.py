"""A workspace's knowledge tags (Dify's tags of type ``knowledge``) and which datasets
carry them.

Tags are workspace-level: every ``ds-`` key of the workspace sees and edits the same ones.
Names are unique per workspace and type (Dify: "Tag name already exists", a 400). Binding
is idempotent, unbinding what is not bound is no error, and deleting a tag removes its
bindings in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait.app.audit import Actor, record
from plait.app.datasets import not_found as dataset_not_found
from plait.errors import InvalidInput, NotFound
from plait.ids import is_uuid
from plait.storage.db import Database
from plait.storage.db.tables import Dataset, Tag, TagBinding

KNOWLEDGE = "knowledge"
MAX_NAME_LENGTH = 50  # Dify's TagCreatePayload limit
MAX_TAGS_PER_BINDING = 100


@dataclass(frozen=True)
class TagWithCount:
    tag: Tag
    binding_count: int


def tag_not_found() -> NotFound:
    return NotFound("Tag not found")


def _name(raw: Any) -> str:
    name = str(raw or "").strip() if isinstance(raw, str) or raw is None else ""
    if not name:
        raise InvalidInput("Tag name must be between 1 to 50 characters.", params="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput("Tag name must be between 1 to 50 characters.", params="name")
    return name


def _duplicate() -> InvalidInput:
    return InvalidInput("Tag name already exists", params="name")


class DatasetTags:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def of_workspace(self, workspace_id: str, *, keyword: str | None = None) -> list[TagWithCount]:
        """The workspace's knowledge tags, newest first, with how many datasets carry each."""
        statement = (
            select(Tag, func.count(TagBinding.id))
            .outerjoin(TagBinding, TagBinding.tag_id == Tag.id)
            .where(Tag.workspace_id == workspace_id, Tag.type == KNOWLEDGE)
            .group_by(Tag.id)
            .order_by(Tag.created_at.desc(), Tag.id)
        )
        if keyword:
            statement = statement.where(Tag.name.icontains(keyword, autoescape=True))
        async with self._db.reader() as session:
            rows = await session.execute(statement)
            return [TagWithCount(tag, int(count)) for tag, count in rows]

    async def create(self, workspace_id: str, actor: Actor, name: Any) -> TagWithCount:
        clean = _name(name)
        tag = Tag(workspace_id=workspace_id, type=KNOWLEDGE, name=clean, created_by=actor.account_id)
        try:
            async with self._db.transaction() as session:
                await self._check_free(session, workspace_id, clean)
                session.add(tag)
                await session.flush()
                record(session, actor, "tag.create", workspace_id=workspace_id, target_type="tag", target_id=tag.id)
        except IntegrityError:  # a concurrent create of the same name
            raise _duplicate() from None
        return TagWithCount(tag, 0)

    async def update(self, workspace_id: str, actor: Actor, tag_id: Any, name: Any) -> TagWithCount:
        clean = _name(name)
        try:
            async with self._db.transaction() as session:
                tag = await self._tag(session, workspace_id, tag_id)
                await self._check_free(session, workspace_id, clean, except_id=tag.id)
                tag.name = clean
                record(session, actor, "tag.update", workspace_id=workspace_id, target_type="tag", target_id=tag.id)
                count = await self._count(session, tag.id)
        except IntegrityError:
            raise _duplicate() from None
        return TagWithCount(tag, count)

    async def delete(self, workspace_id: str, actor: Actor, tag_id: Any) -> None:
        async with self._db.transaction() as session:
            tag = await self._tag(session, workspace_id, tag_id)
            await session.execute(delete(TagBinding).where(TagBinding.tag_id == tag.id))
            await session.delete(tag)
            record(session, actor, "tag.delete", workspace_id=workspace_id, target_type="tag", target_id=tag.id)

    async def bind(self, workspace_id: str, actor: Actor, tag_ids: Sequence[Any], target_id: Any) -> None:
        """Give the dataset these tags (all or none: an unknown tag is 404)."""
        wanted = list(dict.fromkeys(tag_ids))
        if not wanted:
            raise InvalidInput("tag_ids must be a non-empty list of tag ids", params="tag_ids")
        if len(wanted) > MAX_TAGS_PER_BINDING:
            raise InvalidInput(f"tag_ids must hold at most {MAX_TAGS_PER_BINDING} tags", params="tag_ids")
        async with self._db.transaction() as session:
            dataset_id = await self._target(session, workspace_id, target_id)
            tags = [await self._tag(session, workspace_id, tag_id) for tag_id in wanted]
            bound = set(
                (
                    await session.execute(
                        select(TagBinding.tag_id).where(
                            TagBinding.target_id == dataset_id, TagBinding.tag_id.in_([t.id for t in tags])
                        )
                    )
                ).scalars()
            )
            for tag in tags:
                if tag.id not in bound:
                    session.add(
                        TagBinding(
                            workspace_id=workspace_id, tag_id=tag.id, target_id=dataset_id, created_by=actor.account_id
                        )
                    )
            record(
                session,
                actor,
                "tag.bind",
                workspace_id=workspace_id,
                target_type="dataset",
                target_id=dataset_id,
                detail={"tag_ids": [t.id for t in tags]},
            )

    async def unbind(self, workspace_id: str, actor: Actor, tag_ids: Sequence[Any], target_id: Any) -> None:
        wanted = [t for t in dict.fromkeys(tag_ids) if isinstance(t, str) and is_uuid(t)]
        if not tag_ids:
            raise InvalidInput("tag_id is required", params="tag_id")
        async with self._db.transaction() as session:
            dataset_id = await self._target(session, workspace_id, target_id)
            if wanted:
                await session.execute(
                    delete(TagBinding).where(
                        TagBinding.workspace_id == workspace_id,
                        TagBinding.target_id == dataset_id,
                        TagBinding.tag_id.in_(wanted),
                    )
                )
            record(
                session,
                actor,
                "tag.unbind",
                workspace_id=workspace_id,
                target_type="dataset",
                target_id=dataset_id,
                detail={"tag_ids": wanted},
            )

    async def of_target(self, workspace_id: str, target_id: str) -> list[dict[str, Any]]:
        """The tags a dataset carries: ``[{id, name}]``."""
        return (await self.of_targets(workspace_id, [target_id])).get(target_id, [])

    async def of_targets(self, workspace_id: str, target_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        ids = [i for i in dict.fromkeys(target_ids) if is_uuid(i)]
        if not ids:
            return {}
        async with self._db.reader() as session:
            rows = await session.execute(
                select(TagBinding.target_id, Tag.id, Tag.name)
                .join(Tag, Tag.id == TagBinding.tag_id)
                .where(
                    TagBinding.target_id.in_(ids),
                    TagBinding.workspace_id == workspace_id,
                    Tag.workspace_id == workspace_id,
                    Tag.type == KNOWLEDGE,
                )
                .order_by(Tag.name, Tag.id)
            )
            found: dict[str, list[dict[str, Any]]] = {}
            for target, tag_id, name in rows:
                found.setdefault(target, []).append({"id": tag_id, "name": name})
        return found

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    async def _tag(session: AsyncSession, workspace_id: str, tag_id: Any) -> Tag:
        if not isinstance(tag_id, str) or not is_uuid(tag_id):
            raise tag_not_found()
        tag = await session.get(Tag, tag_id)
        if tag is None or tag.workspace_id != workspace_id or tag.type != KNOWLEDGE:
            raise tag_not_found()
        return tag

    @staticmethod
    async def _target(session: AsyncSession, workspace_id: str, target_id: Any) -> str:
        dataset = await session.get(Dataset, target_id) if isinstance(target_id, str) and is_uuid(target_id) else None
        if dataset is None or dataset.workspace_id != workspace_id:
            raise dataset_not_found()
        return dataset.id

    @staticmethod
    async def _check_free(session: AsyncSession, workspace_id: str, name: str, *, except_id: str | None = None) -> None:
        existing = (
            await session.execute(
                select(Tag.id).where(Tag.workspace_id == workspace_id, Tag.type == KNOWLEDGE, Tag.name == name)
            )
        ).scalar_one_or_none()
        if existing is not None and existing != except_id:
            raise _duplicate()

    @staticmethod
    async def _count(session: AsyncSession, tag_id: str) -> int:
        statement = select(func.count()).select_from(TagBinding).where(TagBinding.tag_id == tag_id)
        return int((await session.execute(statement)).scalar_one())
