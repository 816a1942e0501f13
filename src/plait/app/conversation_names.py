"""Conversation names written by a model from the first query (Dify's ``auto_generate``).

A conversation is created named after its first query, cut to :data:`NAME_LENGTH`
characters. A model then proposes a short title: when a client renames a conversation with
``auto_generate``, and in the background after the first turn of a chat that asked for it
(``auto_generate_name``, true by default). The model is the app's own (see
:func:`~plait.app.app_config.helper_model_of`).

Naming never fails: a model error, a timeout, or a reply without a usable title keeps the
cut query. The reply must hold a JSON object with a ``title``, as Dify also asks: a model
that ignores the format tends to answer the query instead of naming it, and a prose reply
is no title. A background name replaces only the name the conversation was created with,
so a client's rename in the meantime wins.
"""

from __future__ import annotations

import asyncio
import json

import structlog
from sqlalchemy import update

from plait.app.app_config import helper_model_of
from plait.app.apps import Apps
from plait.app.model_resolver import ModelResolver
from plait.errors import PlaitError
from plait.providers.base import ChatMessage, ChatRequest, collect
from plait.storage.db import Database
from plait.storage.db.tables import App, AppVersion, Conversation

log = structlog.get_logger(__name__)

NAME_LENGTH = 40
UNNAMED = "New conversation"
# A long query costs tokens and says no more about its subject than its ends do.
QUERY_HEAD = QUERY_TAIL = 500
TIMEOUT_SECONDS = 30.0
PARAMETERS = {"temperature": 0, "max_tokens": 100}
INSTRUCTION = (
    "You name conversations. The user's message is the first message of a conversation. "
    f"Write a title for the conversation: at most {NAME_LENGTH} characters, one line, no quotes, "
    "in the language of the user's message. Do not answer the message. "
    'Reply with only a JSON object: {"title": "<the title>"}'
)
# Characters models put around a title that are no part of it.
_WRAPPING = " \t\"'`*#\u201c\u201d\u2018\u2019\u00ab\u00bb\u300c\u300d"


def provisional_name(query: str) -> str:
    """The name a conversation starts with, and keeps when no better one comes."""
    return query[:NAME_LENGTH] or UNNAMED


def parse_title(reply: str) -> str | None:
    """The title in a model's reply (a JSON object with ``title``, possibly inside prose or
    a code fence), cleaned to one short line; None when there is none."""
    decoder = json.JSONDecoder(strict=False)  # models write raw line breaks inside strings
    start = reply.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(reply, start)
        except ValueError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("title"), str):
            lines = [line.strip(_WRAPPING) for line in value["title"].splitlines()]
            title = " ".join(next((line for line in lines if line), "").split())
            return title[:NAME_LENGTH].rstrip() or None
        start = reply.find("{", start + 1)
    return None


def _shortened(query: str) -> str:
    query = " ".join(query.split())
    if len(query) <= QUERY_HEAD + QUERY_TAIL:
        return query
    return f"{query[:QUERY_HEAD]} ... {query[-QUERY_TAIL:]}"


class ConversationNames:
    def __init__(self, db: Database, models: ModelResolver, apps: Apps) -> None:
        self._db = db
        self._models = models
        self._apps = apps
        self._pending: set[asyncio.Task[None]] = set()

    async def title_for(self, app: App, query: str, version: AppVersion | None = None) -> str:
        """A name for a conversation that began with ``query``, from the app's model
        (``version``, or the published one); the cut query when the model gives none."""
        fallback = provisional_name(query)
        if not query.strip():
            return fallback
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                if version is None:
                    version = await self._apps.published_version(app.workspace_id, app.id)
                block = helper_model_of(version) if version is not None else {}
                model = await self._models.for_workspace(app.workspace_id).chat(block)
                messages = [ChatMessage("system", INSTRUCTION), ChatMessage("user", _shortened(query))]
                request = ChatRequest(messages, model.name, dict(PARAMETERS), caller="conversation_name")
                reply = await collect(model.stream(request))
        except (PlaitError, TimeoutError) as error:
            log.info("conversation_name.model_failed", app_id=app.id, error=str(error) or type(error).__name__)
            return fallback
        title = parse_title(reply.text)
        if title is None:
            log.info("conversation_name.no_title", app_id=app.id)
        return title or fallback

    def name_later(self, app: App, version: AppVersion, conversation_id: str, query: str) -> asyncio.Task[None]:
        """Name a new conversation in the background; the task is kept until it ends (see
        :meth:`settled`) and logs its failures instead of raising them."""
        task = asyncio.create_task(self._name(app, version, conversation_id, query))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _name(self, app: App, version: AppVersion, conversation_id: str, query: str) -> None:
        try:
            provisional = provisional_name(query)
            title = await self.title_for(app, query, version)
            if title == provisional:
                return
            async with self._db.transaction() as session:
                await session.execute(
                    update(Conversation)
                    .where(Conversation.id == conversation_id, Conversation.name == provisional)
                    .values(name=title)
                )
        except Exception:  # a background name is a nicety: nothing of it may escape the task
            log.warning("conversation_name.failed", conversation_id=conversation_id, exc_info=True)

    async def settled(self) -> None:
        """Wait for the background names started so far (and those they lead to)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._pending)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
