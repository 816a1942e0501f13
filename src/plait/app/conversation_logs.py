"""The console's logs of chat and completion apps: every end user's conversations with their
summaries (message count, first query, feedback, annotation), and a conversation's messages
with their feedback and annotations, as Dify's console shows them.

Filters follow Dify: ``keyword`` (messages' queries and answers; for chats also the name,
the introduction and the end user), ``start``/``end`` as ``YYYY-MM-DD HH:MM`` in the
account's time zone, and the annotation status. The per-row summaries are computed with one
grouped query each for the page's conversations, never one query per row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from plait.app.annotations import MAX_PAGE, NumberedPage, check_page
from plait.app.conversations import Page
from plait.errors import InvalidInput, NotFound
from plait.ids import is_uuid
from plait.storage.db import Database
from plait.storage.db.repos import conversations as conversations_repo
from plait.storage.db.tables import (
    Account,
    Annotation,
    AnnotationHit,
    App,
    AppVersion,
    Conversation,
    EndUser,
    Message,
    MessageFeedback,
    WorkflowRun,
)

ANNOTATION_STATUSES = ("annotated", "not_annotated", "all")
SORTS = ("created_at", "-created_at", "updated_at", "-updated_at")
DATE_FORMAT = "%Y-%m-%d %H:%M"
MAX_MESSAGES = 100
# How the console counts a chatflow conversation's runs, by Dify's names.
RUN_STATUS_COUNTS = {"succeeded": "success", "failed": "failed", "partial-succeeded": "partial_success"}


@dataclass(frozen=True)
class ConversationLog:
    conversation: Conversation
    end_user_session_id: str | None
    account_name: str | None
    message_count: int = 0
    first_message: Message | None = None
    user_feedback: dict[str, int] = field(default_factory=lambda: {"like": 0, "dislike": 0})
    admin_feedback: dict[str, int] = field(default_factory=lambda: {"like": 0, "dislike": 0})
    annotation: tuple[Annotation, Account | None] | None = None
    status_count: dict[str, int] | None = None
    model_config: dict[str, Any] | None = None


@dataclass(frozen=True)
class MessageLog:
    message: Message
    feedbacks: list[tuple[MessageFeedback, Account | None]]
    annotation: tuple[Annotation, Account | None] | None
    hit: tuple[AnnotationHit, Account | None] | None


def local_time(value: str | None, timezone: str, *, param: str, end: bool = False) -> datetime | None:
    """``YYYY-MM-DD HH:MM`` in the account's time zone, as a UTC bound (an end bound takes
    in its whole minute, as Dify's does)."""
    if not value:
        return None
    try:
        parsed = datetime.strptime(value, DATE_FORMAT)
    except ValueError as error:
        raise InvalidInput(f"{param} must look like 2026-01-31 23:59", params=param) from error
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    bound = parsed.replace(tzinfo=zone)
    return bound + timedelta(minutes=1) if end else bound


def _annotation_condition(status: str) -> Any:
    if status not in ANNOTATION_STATUSES:
        raise InvalidInput(
            f"annotation_status must be one of {', '.join(ANNOTATION_STATUSES)}", params="annotation_status"
        )
    annotated = exists().where(Annotation.conversation_id == Conversation.id)
    return {"annotated": annotated, "not_annotated": ~annotated}.get(status)


def _message_matches(keyword: str) -> Any:
    return exists().where(
        Message.conversation_id == Conversation.id,
        or_(Message.query.icontains(keyword, autoescape=True), Message.answer.icontains(keyword, autoescape=True)),
    )


class ConversationLogs:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def chat_conversations(
        self,
        app: App,
        *,
        page: int,
        limit: int,
        timezone: str,
        keyword: str | None = None,
        start: str | None = None,
        end: str | None = None,
        annotation_status: str = "all",
        sort_by: str = "-updated_at",
        message_count_gte: int | None = None,
    ) -> NumberedPage[ConversationLog]:
        check_page(page, limit)
        if sort_by not in SORTS:
            raise InvalidInput(f"sort_by must be one of {', '.join(SORTS)}", params="sort_by")
        column = Conversation.updated_at if sort_by.endswith("updated_at") else Conversation.created_at
        conditions = self._window(column, start, end, timezone)
        if keyword:
            conditions.append(
                or_(
                    _message_matches(keyword),
                    Conversation.name.icontains(keyword, autoescape=True),
                    Conversation.introduction.icontains(keyword, autoescape=True),
                    EndUser.session_id.icontains(keyword, autoescape=True),
                )
            )
        if message_count_gte is not None:
            if not 1 <= message_count_gte <= MAX_PAGE:
                raise InvalidInput(f"message_count_gte must be between 1 and {MAX_PAGE}", params="message_count_gte")
            counted = select(func.count()).where(Message.conversation_id == Conversation.id).scalar_subquery()
            conditions.append(counted >= message_count_gte)
        order = column.desc() if sort_by.startswith("-") else column.asc()
        order_id = Conversation.id.desc() if sort_by.startswith("-") else Conversation.id.asc()
        return await self._page(
            app, conditions, annotation_status, page=page, limit=limit, order=(order, order_id), with_runs=True
        )

    async def completion_conversations(
        self,
        app: App,
        *,
        page: int,
        limit: int,
        timezone: str,
        keyword: str | None = None,
        start: str | None = None,
        end: str | None = None,
        annotation_status: str = "all",
    ) -> NumberedPage[ConversationLog]:
        check_page(page, limit)
        conditions = self._window(Conversation.created_at, start, end, timezone)
        if keyword:
            conditions.append(_message_matches(keyword))
        order = (Conversation.created_at.desc(), Conversation.id.desc())
        return await self._page(app, conditions, annotation_status, page=page, limit=limit, order=order)

    @staticmethod
    def _window(column: Any, start: str | None, end: str | None, timezone: str) -> list[Any]:
        conditions = []
        since = local_time(start, timezone, param="start")
        until = local_time(end, timezone, param="end", end=True)
        if since is not None:
            conditions.append(column >= since)
        if until is not None:
            conditions.append(column < until)
        return conditions

    async def _page(
        self,
        app: App,
        conditions: list[Any],
        annotation_status: str,
        *,
        page: int,
        limit: int,
        order: tuple[Any, ...],
        with_runs: bool = False,
    ) -> NumberedPage[ConversationLog]:
        annotated = _annotation_condition(annotation_status)
        where = [Conversation.app_id == app.id, Conversation.is_deleted.is_(False), *conditions]
        if annotated is not None:
            where.append(annotated)
        base = select(Conversation, EndUser.session_id, Account.name).outerjoin(
            EndUser, EndUser.id == Conversation.from_end_user_id
        )
        base = base.outerjoin(Account, Account.id == Conversation.from_account_id).where(*where)
        async with self._db.reader() as session:
            total = (await session.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
            rows = (await session.execute(base.order_by(*order).offset((page - 1) * limit).limit(limit))).all()
            items = await self._summaries(session, [(row[0], row[1], row[2]) for row in rows], with_runs=with_runs)
        return NumberedPage(items, int(total), page, limit)

    async def _summaries(
        self, session: AsyncSession, rows: list[tuple[Conversation, str | None, str | None]], *, with_runs: bool
    ) -> list[ConversationLog]:
        ids = [conversation.id for conversation, _, _ in rows]
        if not ids:
            return []
        counts = dict(
            (
                await session.execute(
                    select(Message.conversation_id, func.count())
                    .where(Message.conversation_id.in_(ids))
                    .group_by(Message.conversation_id)
                )
            ).all()
        )
        ranked = (
            select(
                Message.id,
                func.row_number()
                .over(partition_by=Message.conversation_id, order_by=(Message.created_at, Message.id))
                .label("position"),
            )
            .where(Message.conversation_id.in_(ids))
            .subquery()
        )
        firsts = await session.execute(
            select(Message).join(ranked, ranked.c.id == Message.id).where(ranked.c.position == 1)
        )
        first = {message.conversation_id: message for message in firsts.scalars()}
        feedback: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"like": 0, "dislike": 0})
        grouped = await session.execute(
            select(MessageFeedback.conversation_id, MessageFeedback.from_source, MessageFeedback.rating, func.count())
            .where(MessageFeedback.conversation_id.in_(ids))
            .group_by(MessageFeedback.conversation_id, MessageFeedback.from_source, MessageFeedback.rating)
        )
        for conversation_id, source, rating, count in grouped.all():
            feedback[(conversation_id, source)][rating] = int(count)
        annotations: dict[str, tuple[Annotation, Account | None]] = {}
        found = await session.execute(
            select(Annotation, Account)
            .outerjoin(Account, Account.id == Annotation.created_by_account_id)
            .where(Annotation.conversation_id.in_(ids))
            .order_by(Annotation.created_at)
        )
        for annotation, account in found.all():
            if annotation.conversation_id:
                annotations.setdefault(annotation.conversation_id, (annotation, account))
        runs: dict[str, dict[str, int]] = {}
        if with_runs:
            statuses = await session.execute(
                select(Message.conversation_id, WorkflowRun.status, func.count())
                .join(WorkflowRun, WorkflowRun.id == Message.workflow_run_id)
                .where(Message.conversation_id.in_(ids))
                .group_by(Message.conversation_id, WorkflowRun.status)
            )
            for conversation_id, status, count in statuses.all():
                tally = runs.setdefault(conversation_id, dict.fromkeys(RUN_STATUS_COUNTS.values(), 0))
                if status in RUN_STATUS_COUNTS:
                    tally[RUN_STATUS_COUNTS[status]] += int(count)
        configs = await self._model_configs(session, {c.app_version_id for c, _, _ in rows if c.app_version_id})
        return [
            ConversationLog(
                conversation,
                session_id,
                account_name,
                message_count=int(counts.get(conversation.id, 0)),
                first_message=first.get(conversation.id),
                user_feedback=dict(feedback[(conversation.id, "user")]),
                admin_feedback=dict(feedback[(conversation.id, "admin")]),
                annotation=annotations.get(conversation.id),
                status_count=runs.get(conversation.id) if conversation.mode == "advanced-chat" else None,
                model_config=configs.get(conversation.app_version_id or ""),
            )
            for conversation, session_id, account_name in rows
        ]

    @staticmethod
    async def _model_configs(session: AsyncSession, version_ids: set[str]) -> dict[str, dict[str, Any]]:
        if not version_ids:
            return {}
        rows = await session.execute(
            select(AppVersion.id, AppVersion.model_config_).where(AppVersion.id.in_(version_ids))
        )
        return {version_id: config for version_id, config in rows.all() if config}

    async def messages(self, app: App, conversation_id: str, *, first_id: str | None, limit: int) -> Page[MessageLog]:
        """The latest ``limit`` messages (or those before ``first_id``), oldest first."""
        if not 1 <= limit <= MAX_MESSAGES:
            raise InvalidInput(f"limit must be between 1 and {MAX_MESSAGES}", params="limit")
        async with self._db.reader() as session:
            conversation = await session.get(Conversation, conversation_id) if is_uuid(conversation_id) else None
            if conversation is None or conversation.app_id != app.id or conversation.is_deleted:
                raise NotFound("Conversation Not Exists.")
            before = None
            if first_id:
                before = await session.get(Message, first_id) if is_uuid(first_id) else None
                if before is None or before.conversation_id != conversation.id:
                    raise NotFound("First message not found.")
            rows = await conversations_repo.latest_messages(session, conversation.id, before=before, limit=limit)
            page = rows[:limit]
            page.reverse()
            items = await self._message_logs(session, page)
        return Page(items, len(rows) > limit, limit)

    @staticmethod
    async def _message_logs(session: AsyncSession, messages: list[Message]) -> list[MessageLog]:
        ids = [message.id for message in messages]
        if not ids:
            return []
        feedbacks: dict[str, list[tuple[MessageFeedback, Account | None]]] = defaultdict(list)
        given = await session.execute(
            select(MessageFeedback, Account)
            .outerjoin(Account, Account.id == MessageFeedback.from_account_id)
            .where(MessageFeedback.message_id.in_(ids))
            .order_by(MessageFeedback.created_at)
        )
        for feedback, account in given.all():
            feedbacks[feedback.message_id].append((feedback, account))
        annotations: dict[str, tuple[Annotation, Account | None]] = {}
        annotated = await session.execute(
            select(Annotation, Account)
            .outerjoin(Account, Account.id == Annotation.created_by_account_id)
            .where(Annotation.message_id.in_(ids))
        )
        for annotation, account in annotated.all():
            if annotation.message_id:
                annotations[annotation.message_id] = (annotation, account)
        author = aliased(Account)
        hits: dict[str, tuple[AnnotationHit, Account | None]] = {}
        answered = await session.execute(
            select(AnnotationHit, author)
            .join(Annotation, Annotation.id == AnnotationHit.annotation_id)
            .outerjoin(author, author.id == Annotation.created_by_account_id)
            .where(AnnotationHit.message_id.in_(ids))
        )
        for hit, account in answered.all():
            if hit.message_id:
                hits[hit.message_id] = (hit, account)
        return [
            MessageLog(message, feedbacks.get(message.id, []), annotations.get(message.id), hits.get(message.id))
            for message in messages
        ]
