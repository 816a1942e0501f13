"""Feedback on answers: an end user likes or dislikes a message of their own conversation."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select

from plait.app.conversations import Page
from plait.errors import InvalidInput, NotFound
from plait.ids import is_uuid
from plait.storage.db import Database
from plait.storage.db.tables import App, Conversation, EndUser, Message, MessageFeedback

RATINGS = ("like", "dislike")


class Feedback:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def give(self, app: App, user: str, message_id: str, *, rating: str | None, content: str | None) -> None:
        if rating is not None and rating not in RATINGS:
            raise InvalidInput("rating must be like, dislike or null", params="rating")
        if not is_uuid(message_id):
            raise NotFound("Message Not Exists.")
        async with self._db.transaction() as session:
            found = (
                await session.execute(
                    select(Message, EndUser.id)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .join(EndUser, EndUser.id == Conversation.from_end_user_id)
                    .where(Message.id == message_id, Message.app_id == app.id, EndUser.session_id == user)
                )
            ).first()
            if found is None:
                raise NotFound("Message Not Exists.")
            message, end_user_id = found
            existing = (
                await session.execute(
                    select(MessageFeedback).where(
                        MessageFeedback.message_id == message.id, MessageFeedback.from_source == "user"
                    )
                )
            ).scalar_one_or_none()
            if rating is None:
                if existing is not None:
                    await session.execute(delete(MessageFeedback).where(MessageFeedback.id == existing.id))
                return
            if existing is None:
                session.add(
                    MessageFeedback(
                        app_id=app.id,
                        conversation_id=message.conversation_id,
                        message_id=message.id,
                        rating=rating,
                        content=content,
                        from_source="user",
                        from_end_user_id=end_user_id,
                    )
                )
            else:
                existing.rating, existing.content = rating, content

    async def page(self, app: App, *, page: int, limit: int) -> tuple[Page[MessageFeedback], int]:
        # Dify caps page at 99999; an unbounded one overflows the database's integers.
        if not 1 <= page <= 99_999 or not 1 <= limit <= 101:
            raise InvalidInput("page must be between 1 and 99999 and limit between 1 and 101", params="limit")
        async with self._db.reader() as session:
            total = (
                await session.execute(
                    select(func.count()).select_from(MessageFeedback).where(MessageFeedback.app_id == app.id)
                )
            ).scalar_one()
            rows = (
                await session.execute(
                    select(MessageFeedback)
                    .where(MessageFeedback.app_id == app.id)
                    .order_by(MessageFeedback.created_at.desc(), MessageFeedback.id.desc())
                    .offset((page - 1) * limit)
                    .limit(limit)
                )
            ).scalars()
            items = list(rows)
        return Page(items, page * limit < total, limit), int(total)

    async def ratings(self, message_ids: Sequence[str]) -> dict[str, str]:
        if not message_ids:
            return {}
        async with self._db.reader() as session:
            rows = await session.execute(
                select(MessageFeedback.message_id, MessageFeedback.rating).where(
                    MessageFeedback.message_id.in_(list(message_ids)), MessageFeedback.from_source == "user"
                )
            )
            return {message_id: rating for message_id, rating in rows.all()}
