"""Conversations and their messages, seen by one end user of one app."""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.storage.db.tables import Conversation, Message

SORTS = {"created_at": Conversation.created_at, "updated_at": Conversation.updated_at}


async def owned(session: AsyncSession, app_id: str, end_user_id: str, conversation_id: str) -> Conversation | None:
    statement = select(Conversation).where(
        Conversation.id == conversation_id,
        Conversation.app_id == app_id,
        Conversation.from_end_user_id == end_user_id,
        Conversation.is_deleted.is_(False),
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def page_of_conversations(
    session: AsyncSession, app_id: str, end_user_id: str, *, sort_by: str, after: Conversation | None, limit: int
) -> list[Conversation]:
    """Up to ``limit + 1`` conversations in ``sort_by`` order (``-field`` descends), after the
    cursor row; ties are broken by id so that no row is skipped or repeated across pages."""
    descending = sort_by.startswith("-")
    column = SORTS[sort_by.lstrip("-")]
    statement = select(Conversation).where(
        Conversation.app_id == app_id, Conversation.from_end_user_id == end_user_id, Conversation.is_deleted.is_(False)
    )
    if after is not None:
        value = getattr(after, column.key)
        if descending:
            statement = statement.where(or_(column < value, and_(column == value, Conversation.id < after.id)))
        else:
            statement = statement.where(or_(column > value, and_(column == value, Conversation.id > after.id)))
    order = (column.desc(), Conversation.id.desc()) if descending else (column.asc(), Conversation.id.asc())
    return list((await session.execute(statement.order_by(*order).limit(limit + 1))).scalars())


async def latest_messages(
    session: AsyncSession, conversation_id: str, *, before: Message | None, limit: int
) -> list[Message]:
    """Up to ``limit + 1`` messages, newest first, older than the cursor message."""
    statement = select(Message).where(Message.conversation_id == conversation_id)
    if before is not None:
        statement = statement.where(
            or_(
                Message.created_at < before.created_at,
                and_(Message.created_at == before.created_at, Message.id < before.id),
            )
        )
    order = (Message.created_at.desc(), Message.id.desc())
    return list((await session.execute(statement.order_by(*order).limit(limit + 1))).scalars())


async def first_message(session: AsyncSession, conversation_id: str) -> Message | None:
    statement = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.created_at).limit(1)
    return (await session.execute(statement)).scalar_one_or_none()
