"""Annotations: curated question-and-answer pairs of an app, and what annotation reply needs
to know about them.

An annotation may stand alone (created through the API or the console) or improve the
answer of one message (created from a log). While the app's annotation reply is on, every
annotation carries its question's embedding under the configured model; creating or
changing one embeds it on the spot, and the enable job (``annotation_jobs``) brings the rest
up to date. Embedding models come from an :data:`EmbeddingModelFor` the composition root
wires, so this module never knows where models live.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.app.audit import Actor, record
from plait.errors import InvalidInput, NotFound
from plait.ids import is_uuid
from plait.providers.base import EmbeddingModel
from plait.storage.db import Database
from plait.storage.db.tables import (
    Annotation,
    AnnotationHit,
    AnnotationSetting,
    App,
    Membership,
    Message,
)

MAX_LIMIT = 100
MAX_PAGE = 99_999
MAX_QUESTION_LENGTH = 10_000
MAX_ANSWER_LENGTH = 100_000
# Dify names an annotation's author so when the account is gone.
UNKNOWN_AUTHOR = "Dify user"

# The embedding model a workspace has under a provider's and a model's name.
EmbeddingModelFor = Callable[[str, str, str], Awaitable[EmbeddingModel]]

T = TypeVar("T")


@dataclass(frozen=True)
class NumberedPage(Generic[T]):
    items: list[T]
    total: int
    page: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total


def check_page(page: int, limit: int) -> None:
    # Dify's cap; an unbounded page overflows the database's integers.
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(f"page must be between 1 and {MAX_PAGE}", params="page")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", params="limit")


def embedding_record(setting: AnnotationSetting, question: str, vector: list[float]) -> dict[str, Any]:
    return {
        "provider": setting.embedding_provider_name,
        "model": setting.embedding_model_name,
        "question": question,
        "vector": vector,
    }


def is_current(embedding: Mapping[str, Any] | None, setting: AnnotationSetting, question: str) -> bool:
    """Whether ``embedding`` is ``question``'s vector under the setting's model."""
    return bool(
        embedding
        and embedding.get("provider") == setting.embedding_provider_name
        and embedding.get("model") == setting.embedding_model_name
        and embedding.get("question") == question
        and embedding.get("vector")
    )


async def embed_questions(
    models: EmbeddingModelFor, workspace_id: str, setting: AnnotationSetting, questions: list[str]
) -> list[list[float]]:
    model = await models(workspace_id, setting.embedding_provider_name, setting.embedding_model_name)
    result = await model.embed(questions, input_type="document")
    return result.vectors


async def workspace_owner(session: AsyncSession, workspace_id: str) -> str | None:
    """The owner's account id: what API-key changes are attributed to, as in Dify."""
    statement = select(Membership.account_id).where(Membership.workspace_id == workspace_id, Membership.role == "owner")
    return (await session.execute(statement.limit(1))).scalar_one_or_none()


def _clean(question: str | None, answer: str | None) -> tuple[str, str]:
    question = (question or "").strip()
    answer = (answer or "").strip()
    if not question:
        raise InvalidInput("question must not be empty", params="question")
    if not answer:
        raise InvalidInput("answer must not be empty", params="answer")
    if len(question) > MAX_QUESTION_LENGTH:
        raise InvalidInput(f"question must be at most {MAX_QUESTION_LENGTH} characters", params="question")
    if len(answer) > MAX_ANSWER_LENGTH:
        raise InvalidInput(f"answer must be at most {MAX_ANSWER_LENGTH} characters", params="answer")
    return question, answer


def _not_found() -> NotFound:
    return NotFound("Annotation not found.")


class Annotations:
    def __init__(self, db: Database, embedding_models: EmbeddingModelFor) -> None:
        self._db = db
        self._models = embedding_models

    async def page(self, app: App, *, page: int, limit: int, keyword: str | None = None) -> NumberedPage[Annotation]:
        """Newest first; ``keyword`` matches the question or the answer, case-insensitively."""
        check_page(page, limit)
        conditions: list[Any] = [Annotation.app_id == app.id]
        if keyword:
            conditions.append(
                or_(
                    Annotation.question.icontains(keyword, autoescape=True),
                    Annotation.answer.icontains(keyword, autoescape=True),
                )
            )
        async with self._db.reader() as session:
            total = (
                await session.execute(select(func.count()).select_from(Annotation).where(*conditions))
            ).scalar_one()
            rows = await session.execute(
                select(Annotation)
                .where(*conditions)
                .order_by(Annotation.created_at.desc(), Annotation.id.desc())
                .offset((page - 1) * limit)
                .limit(limit)
            )
            items = list(rows.scalars())
        return NumberedPage(items, int(total), page, limit)

    async def count(self, app: App) -> int:
        async with self._db.reader() as session:
            statement = select(func.count()).select_from(Annotation).where(Annotation.app_id == app.id)
            return int((await session.execute(statement)).scalar_one())

    async def setting(self, app: App) -> AnnotationSetting | None:
        async with self._db.reader() as session:
            statement = select(AnnotationSetting).where(AnnotationSetting.app_id == app.id)
            return (await session.execute(statement)).scalar_one_or_none()

    async def _embedding(self, app: App, question: str) -> dict[str, Any] | None:
        """``question``'s embedding when annotation reply is on (computed before any write
        transaction opens: a model call must not hold the database's writer)."""
        setting = await self.setting(app)
        if setting is None:
            return None
        [vector] = await embed_questions(self._models, app.workspace_id, setting, [question])
        return embedding_record(setting, question, vector)

    async def create(
        self,
        app: App,
        actor: Actor,
        *,
        question: str | None,
        answer: str | None,
        message_id: str | None = None,
    ) -> Annotation:
        """A new annotation, or (given ``message_id``) the annotation of that message of the
        app, created or changed; its question defaults to the message's query."""
        if message_id:
            return await self._annotate_message(app, actor, message_id, question=question, answer=answer)
        question, answer = _clean(question, answer)
        embedding = await self._embedding(app, question)
        async with self._db.transaction() as session:
            row = Annotation(
                workspace_id=app.workspace_id,
                app_id=app.id,
                question=question,
                answer=answer,
                hit_count=0,
                created_by_account_id=actor.account_id or await workspace_owner(session, app.workspace_id),
                embedding=embedding,
            )
            session.add(row)
            await session.flush()
            record(
                session,
                actor,
                "annotation.create",
                workspace_id=app.workspace_id,
                target_type="annotation",
                target_id=row.id,
            )
        return row

    async def _annotate_message(
        self, app: App, actor: Actor, message_id: str, *, question: str | None, answer: str | None
    ) -> Annotation:
        if not is_uuid(message_id):
            raise NotFound("Message Not Exists.")
        async with self._db.reader() as session:
            message = await session.get(Message, message_id)
            if message is None or message.app_id != app.id:
                raise NotFound("Message Not Exists.")
            existing = (
                await session.execute(select(Annotation).where(Annotation.message_id == message.id))
            ).scalar_one_or_none()
        question, answer = _clean(question or message.query, answer)
        unchanged = existing is not None and existing.question == question and existing.embedding is not None
        embedding = existing.embedding if unchanged and existing else await self._embedding(app, question)
        async with self._db.transaction() as session:
            row = await session.get(Annotation, existing.id) if existing else None
            if row is None:
                row = Annotation(
                    workspace_id=app.workspace_id,
                    app_id=app.id,
                    conversation_id=message.conversation_id,
                    message_id=message.id,
                    hit_count=0,
                    created_by_account_id=actor.account_id or await workspace_owner(session, app.workspace_id),
                )
                session.add(row)
            row.question, row.answer, row.embedding = question, answer, embedding
            await session.flush()
            record(
                session,
                actor,
                "annotation.create",
                workspace_id=app.workspace_id,
                target_type="annotation",
                target_id=row.id,
                detail={"message_id": message.id},
            )
        return row

    async def get(self, app: App, annotation_id: str) -> Annotation:
        if is_uuid(annotation_id):
            async with self._db.reader() as session:
                row = await session.get(Annotation, annotation_id)
            if row is not None and row.app_id == app.id:
                return row
        raise _not_found()

    async def update(
        self, app: App, actor: Actor, annotation_id: str, *, question: str | None, answer: str | None
    ) -> Annotation:
        current = await self.get(app, annotation_id)
        question, answer = _clean(question, answer)
        setting = await self.setting(app)
        embedding = current.embedding
        if setting is not None and not is_current(embedding, setting, question):
            [vector] = await embed_questions(self._models, app.workspace_id, setting, [question])
            embedding = embedding_record(setting, question, vector)
        async with self._db.transaction() as session:
            row = await session.get(Annotation, current.id)
            if row is None:  # deleted meanwhile
                raise _not_found()
            row.question, row.answer, row.embedding = question, answer, embedding
            record(
                session,
                actor,
                "annotation.update",
                workspace_id=app.workspace_id,
                target_type="annotation",
                target_id=row.id,
            )
        return row

    async def delete(self, app: App, actor: Actor, annotation_id: str) -> None:
        current = await self.get(app, annotation_id)
        async with self._db.transaction() as session:
            await session.execute(delete(Annotation).where(Annotation.id == current.id))
            record(
                session,
                actor,
                "annotation.delete",
                workspace_id=app.workspace_id,
                target_type="annotation",
                target_id=current.id,
            )

    async def update_threshold(
        self, app: App, actor: Actor, setting_id: str, *, score_threshold: float
    ) -> AnnotationSetting:
        """Change how similar a query must be; the model changes only through an enable job."""
        check_threshold(score_threshold)
        async with self._db.transaction() as session:
            row = await session.get(AnnotationSetting, setting_id) if is_uuid(setting_id) else None
            if row is None or row.app_id != app.id:
                raise NotFound("App annotation setting not found.")
            row.score_threshold = score_threshold
            row.updated_by_account_id = actor.account_id
            record(
                session,
                actor,
                "annotation_reply.update",
                workspace_id=app.workspace_id,
                target_type="app",
                target_id=app.id,
                detail={"score_threshold": score_threshold},
            )
        return row

    async def hits(self, app: App, annotation_id: str, *, page: int, limit: int) -> NumberedPage[AnnotationHit]:
        check_page(page, limit)
        annotation = await self.get(app, annotation_id)
        condition = AnnotationHit.annotation_id == annotation.id
        async with self._db.reader() as session:
            total = (
                await session.execute(select(func.count()).select_from(AnnotationHit).where(condition))
            ).scalar_one()
            rows = await session.execute(
                select(AnnotationHit)
                .where(condition)
                .order_by(AnnotationHit.created_at.desc(), AnnotationHit.id.desc())
                .offset((page - 1) * limit)
                .limit(limit)
            )
            items = list(rows.scalars())
        return NumberedPage(items, int(total), page, limit)


def check_threshold(score_threshold: float) -> None:
    if not 0.0 <= score_threshold <= 1.0:
        raise InvalidInput("score_threshold must be between 0 and 1", params="score_threshold")
