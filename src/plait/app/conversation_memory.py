"""A conversation's earlier turns, for nodes with ``memory`` (the engine's
``ConversationMemory``). Read only when a node asks, so a turn that needs no memory costs
no query."""

from __future__ import annotations

from sqlalchemy import select

from plait.storage.db import Database
from plait.storage.db.tables import Message


class ConversationHistory:
    def __init__(self, db: Database, conversation_id: str, current_message_id: str) -> None:
        self._db = db
        self._conversation_id = conversation_id
        self._current = current_message_id

    async def turns(self, limit: int) -> list[tuple[str, str]]:
        """The last ``limit`` answered turns before this one, oldest first; failed turns
        are left out (their answer is not part of the conversation)."""
        async with self._db.reader() as session:
            rows = (
                await session.execute(
                    select(Message.query, Message.answer)
                    .where(
                        Message.conversation_id == self._conversation_id,
                        Message.id != self._current,
                        Message.status == "normal",
                    )
                    .order_by(Message.created_at.desc(), Message.id.desc())
                    .limit(limit)
                )
            ).all()
        return [(query or "", answer or "") for query, answer in reversed(rows)]


class GivenHistory:
    """Earlier turns the caller sent with its request (the OpenAI-compatible API)."""

    def __init__(self, turns: list[tuple[str, str]]) -> None:
        self._turns = turns

    async def turns(self, limit: int) -> list[tuple[str, str]]:
        return self._turns[-limit:] if limit > 0 else []
