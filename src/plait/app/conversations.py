"""Conversations as an end user sees them: list, read back messages, rename (by hand, or
by the app's model: :mod:`plait.app.conversation_names`), delete.

Every call is scoped to one app and one end user (the caller's ``user`` string): another
user's conversation is indistinguishable from one that does not exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import select

from plait.app.conversation_names import ConversationNames
from plait.errors import InvalidInput, NotFound
from plait.ids import is_uuid
from plait.storage.db import Database
from plait.storage.db.repos import conversations as repo
from plait.storage.db.tables import App, Conversation, ConversationVariable, EndUser, Message

SORTS = ("created_at", "-created_at", "updated_at", "-updated_at")
MAX_LIMIT = 100


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool
    limit: int


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", params="limit")
    return limit


class Conversations:
    def __init__(self, db: Database, names: ConversationNames) -> None:
        self._db = db
        self._names = names

    async def _end_user(self, app: App, user: str) -> EndUser | None:
        async with self._db.reader() as session:
            statement = select(EndUser).where(EndUser.app_id == app.id, EndUser.session_id == user)
            return (await session.execute(statement)).scalar_one_or_none()

    async def _owned(self, app: App, user: str, conversation_id: str) -> Conversation:
        if not is_uuid(conversation_id):
            raise NotFound("Conversation Not Exists.")
        end_user = await self._end_user(app, user)
        if end_user is not None:
            async with self._db.reader() as session:
                found = await repo.owned(session, app.id, end_user.id, conversation_id)
            if found is not None:
                return found
        raise NotFound("Conversation Not Exists.")

    async def page(self, app: App, user: str, *, last_id: str | None, limit: int, sort_by: str) -> Page[Conversation]:
        limit = _limit(limit)
        if sort_by not in SORTS:
            raise InvalidInput(f"sort_by must be one of {', '.join(SORTS)}", params="sort_by")
        end_user = await self._end_user(app, user)
        if end_user is None:
            return Page([], False, limit)
        async with self._db.reader() as session:
            after = None
            if last_id:
                after = await repo.owned(session, app.id, end_user.id, last_id) if is_uuid(last_id) else None
                if after is None:
                    raise NotFound("Last Conversation Not Exists.")
            rows = await repo.page_of_conversations(
                session, app.id, end_user.id, sort_by=sort_by, after=after, limit=limit
            )
        return Page(rows[:limit], len(rows) > limit, limit)

    async def messages(
        self, app: App, user: str, conversation_id: str, *, first_id: str | None, limit: int
    ) -> Page[Message]:
        """The latest ``limit`` messages (or those before ``first_id``), oldest first."""
        limit = _limit(limit)
        conversation = await self._owned(app, user, conversation_id)
        async with self._db.reader() as session:
            before = None
            if first_id:
                before = await session.get(Message, first_id) if is_uuid(first_id) else None
                if before is None or before.conversation_id != conversation.id:
                    raise NotFound("First Message Not Exists.")
            rows = await repo.latest_messages(session, conversation.id, before=before, limit=limit)
        page = rows[:limit]
        page.reverse()
        return Page(page, len(rows) > limit, limit)

    async def rename(
        self, app: App, user: str, conversation_id: str, *, name: str | None, auto_generate: bool
    ) -> Conversation:
        conversation = await self._owned(app, user, conversation_id)
        if auto_generate:
            async with self._db.reader() as session:
                first = await repo.first_message(session, conversation.id)
            query = first.query if first else ""
            # The model is asked outside the write transaction: it may take seconds.
            new_name = await self._names.title_for(app, query)
        elif not name or not name.strip():
            raise InvalidInput("name must not be empty", params="name")
        else:
            new_name = name.strip()[:255]
        async with self._db.transaction() as session:
            row = await session.get(Conversation, conversation.id)
            if row is None:  # deleted while its name was being written
                raise NotFound("Conversation Not Exists.")
            row.name = new_name
        return row

    async def variables(self, app: App, user: str, conversation_id: str) -> list[ConversationVariable]:
        conversation = await self._owned(app, user, conversation_id)
        async with self._db.reader() as session:
            statement = (
                select(ConversationVariable)
                .where(ConversationVariable.conversation_id == conversation.id)
                .order_by(ConversationVariable.name)
            )
            return list((await session.execute(statement)).scalars())

    async def end_user(self, app: App, end_user_id: str) -> EndUser:
        if is_uuid(end_user_id):
            async with self._db.reader() as session:
                row = await session.get(EndUser, end_user_id)
            if row is not None and row.app_id == app.id:
                return row
        raise NotFound("End user not found.", code="end_user_not_found")

    async def delete(self, app: App, user: str, conversation_id: str) -> None:
        conversation = await self._owned(app, user, conversation_id)
        async with self._db.transaction() as session:
            row = await session.get(Conversation, conversation.id)
            if row is not None:
                row.is_deleted = True
