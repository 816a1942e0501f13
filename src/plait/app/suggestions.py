"""Questions an end user might ask next, after an answer (Dify's "suggested questions after
answer", ``GET /v1/messages/{id}/suggested``).

With the app's ``suggested_questions_after_answer`` feature on, the app's model (see
:func:`~plait.app.app_config.helper_model_of`) reads the last turns of the conversation up
to the message and proposes three short questions as a JSON array. Models wrap the array in
prose or code fences, and small ones answer with anything at all: a reply that holds no
usable array gives no questions, not an error. A failed model call is answered with the
model's error, as Dify does.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from plait.app.app_config import feature_enabled, helper_model_of
from plait.app.apps import Apps
from plait.app.model_resolver import ModelResolver
from plait.errors import BadRequest, NotFound
from plait.ids import is_uuid
from plait.providers.base import ChatMessage, ChatRequest, collect
from plait.storage.db import Database
from plait.storage.db.tables import App, Conversation, EndUser, Message

FEATURE = "suggested_questions_after_answer"
CHAT_MODES = ("chat", "agent-chat", "advanced-chat")
MAX_QUESTIONS = 3
# A question longer than this is no short suggestion (a small model's ramble, say).
MAX_QUESTION_LENGTH = 200
# The turns the model reads, and how much of each message: enough to know the subject.
HISTORY_TURNS = 3
MESSAGE_LIMIT = 2000
PARAMETERS = {"temperature": 0, "max_tokens": 256}
INSTRUCTION = (
    "You suggest what the user may ask next. Read the conversation between the user and the "
    "assistant, and predict the three questions the user is most likely to ask next. Keep each "
    "question short (under 20 words) and write it in the language of the user's messages. "
    'Reply with only a JSON array of three strings: ["question 1", "question 2", "question 3"]'
)


def parse_questions(reply: str) -> list[str]:
    """The questions in a model's reply: the first JSON array in it that holds strings,
    each cleaned to one line; duplicates, blanks and rambles dropped; at most three."""
    decoder = json.JSONDecoder(strict=False)  # models write raw line breaks inside strings
    start = reply.find("[")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(reply, start)
        except ValueError:
            value = None
        if isinstance(value, list):
            questions: list[str] = []
            for item in value:
                question = " ".join(item.split()) if isinstance(item, str) else ""
                if question and len(question) <= MAX_QUESTION_LENGTH and question not in questions:
                    questions.append(question)
            if questions:
                return questions[:MAX_QUESTIONS]
        start = reply.find("[", start + 1)
    return []


def transcript(turns: list[Message]) -> str:
    lines = []
    for turn in turns:
        lines.append(f"User: {turn.query[:MESSAGE_LIMIT]}")
        if turn.answer:
            lines.append(f"Assistant: {turn.answer[:MESSAGE_LIMIT]}")
    return "\n".join(lines)


class SuggestedQuestions:
    def __init__(self, db: Database, models: ModelResolver, apps: Apps) -> None:
        self._db = db
        self._models = models
        self._apps = apps

    async def after(self, app: App, user: str, message_id: str) -> list[str]:
        if app.mode not in CHAT_MODES:
            raise BadRequest("Please check if your app mode matches the right API route.", code="not_chat_app")
        turns = await self._turns_up_to(app, user, message_id)
        version = await self._apps.published_version(app.workspace_id, app.id)
        if version is None:
            raise BadRequest("App unavailable, please check your app configurations.", code="app_unavailable")
        if not feature_enabled(version, FEATURE):
            raise BadRequest("Suggested Questions Is Disabled.")
        model = await self._models.for_workspace(app.workspace_id).chat(helper_model_of(version))
        messages = [ChatMessage("system", INSTRUCTION), ChatMessage("user", transcript(turns))]
        request = ChatRequest(messages, model.name, dict(PARAMETERS), caller="suggested_questions")
        reply = await collect(model.stream(request))
        return parse_questions(reply.text)

    async def _turns_up_to(self, app: App, user: str, message_id: str) -> list[Message]:
        """The message (of this end user, in a conversation they still have) and the turns
        before it that were answered, oldest first."""
        if not is_uuid(message_id):
            raise NotFound("Message Not Exists.")
        async with self._db.reader() as session:
            message = (
                await session.execute(
                    select(Message)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .join(EndUser, EndUser.id == Conversation.from_end_user_id)
                    .where(
                        Message.id == message_id,
                        Message.app_id == app.id,
                        EndUser.session_id == user,
                        Conversation.is_deleted.is_(False),
                    )
                )
            ).scalar_one_or_none()
            if message is None:
                raise NotFound("Message Not Exists.")
            earlier = (
                await session.execute(
                    select(Message)
                    .where(
                        Message.conversation_id == message.conversation_id,
                        Message.id != message.id,
                        Message.status == "normal",
                        Message.created_at <= message.created_at,
                    )
                    .order_by(Message.created_at.desc(), Message.id.desc())
                    .limit(HISTORY_TURNS - 1)
                )
            ).scalars()
            turns = [*reversed(list(earlier)), message]
        return turns
