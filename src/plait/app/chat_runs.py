"""Chatflow turns through the Service API: one user message in an advanced-chat app.

A turn belongs to a conversation (new, or an existing one of the same end user), stores a
message row, runs the published workflow with the conversation's variables, and then, in
one transaction, stores the answer, the accounting and the conversation variables as the run
left them, so the next turn continues from there.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from plait.app.run_records import RunCollector, RunOwner, RunRecorder
from plait.app.workflow_runs import WorkflowRuns
from plait.engine.compile import CompiledGraph
from plait.engine.runtime import RunLimits, WorkflowRun
from plait.engine.services import Services
from plait.errors import BadRequest, InvalidInput, NotFound
from plait.events import NodeFinished, RunEvent, WorkflowFinished
from plait.ids import is_uuid, new_id
from plait.storage.db import Database
from plait.storage.db.tables import App, AppVersion, Conversation, ConversationVariable, EndUser, Message

NAME_LENGTH = 40


@dataclass
class PreparedTurn:
    app: App
    version: AppVersion
    graph: CompiledGraph
    inputs: dict[str, Any]
    query: str
    end_user: EndUser
    conversation: Conversation | None
    variables: dict[str, Any]
    task_id: str = field(default_factory=new_id)
    run_id: str = field(default_factory=new_id)
    message_id: str = field(default_factory=new_id)
    conversation_id: str = field(default_factory=new_id)
    created_at: int = field(default_factory=lambda: int(time.time()))
    answer: str = ""
    usage: dict[str, Any] = field(default_factory=dict)


def usage_record(prompt_tokens: int, completion_tokens: int, latency: float) -> dict[str, Any]:
    """Dify's usage object; prices are decimal strings (no price list is configured yet)."""
    return {
        "prompt_tokens": prompt_tokens,
        "prompt_unit_price": "0",
        "prompt_price_unit": "0",
        "prompt_price": "0",
        "completion_tokens": completion_tokens,
        "completion_unit_price": "0",
        "completion_price_unit": "0",
        "completion_price": "0",
        "total_tokens": prompt_tokens + completion_tokens,
        "total_price": "0",
        "currency": "USD",
        "latency": round(latency, 4),
    }


class ChatRuns:
    def __init__(
        self,
        db: Database,
        workflow_runs: WorkflowRuns,
        recorder: RunRecorder,
        services: Services,
        limits: RunLimits,
    ) -> None:
        self._db = db
        self._workflow_runs = workflow_runs
        self._recorder = recorder
        self._services = services
        self._limits = limits

    async def prepare(
        self,
        app: App,
        *,
        user: str,
        query: str,
        inputs: Mapping[str, Any],
        conversation_id: str | None,
        completion: bool = False,
    ) -> PreparedTurn:
        if completion:
            if app.mode != "completion":
                # Dify's code for this mismatch, kept for its clients.
                raise BadRequest("Please check if your app mode matches the right API route.", code="app_unavailable")
            conversation_id = None
        elif app.mode not in ("advanced-chat", "chat", "agent-chat"):
            raise BadRequest("Please check if your app mode matches the right API route.", code="not_chat_app")
        elif app.mode == "agent-chat":
            raise BadRequest(
                "Agent apps need tool-calling model providers, which Plait does not offer yet.", code="app_unavailable"
            )
        if conversation_id and not is_uuid(conversation_id):
            raise InvalidInput("conversation_id must be a valid UUID", params="conversation_id")
        version, graph = await self._workflow_runs.published(app)
        end_user = await self._workflow_runs.end_user(app, user)
        conversation = None
        variables = dict(graph.conversation_defaults)
        if conversation_id:
            async with self._db.reader() as session:
                conversation = (
                    await session.execute(
                        select(Conversation).where(
                            Conversation.id == conversation_id,
                            Conversation.app_id == app.id,
                            Conversation.from_end_user_id == end_user.id,
                            Conversation.is_deleted.is_(False),
                        )
                    )
                ).scalar_one_or_none()
                if conversation is None:
                    raise NotFound("Conversation Not Exists.")
                stored = await session.execute(
                    select(ConversationVariable).where(ConversationVariable.conversation_id == conversation.id)
                )
                variables.update({row.name: row.value.get("value") for row in stored.scalars()})
            inputs = conversation.inputs  # later turns keep the conversation's inputs, as in Dify
        checked = self._workflow_runs.check_inputs(graph, inputs)
        turn = PreparedTurn(app, version, graph, checked, query, end_user, conversation, variables)
        if conversation is not None:
            turn.conversation_id = conversation.id
        return turn

    async def execute(self, turn: PreparedTurn) -> AsyncIterator[RunEvent]:
        app = turn.app
        await self._open(turn)
        owner = RunOwner(
            app.workspace_id,
            app.id,
            turn.version.id,
            turn.version.version,
            "app-run",
            "end_user",
            created_by_end_user_id=turn.end_user.id,
            conversation_id=turn.conversation_id,
        )
        collector = RunCollector(owner)
        dialogue_count = (turn.conversation.dialogue_count if turn.conversation else 0) + 1
        system = {
            "query": turn.query,
            "files": [],
            "conversation_id": turn.conversation_id,
            "dialogue_count": dialogue_count,
            "user_id": turn.end_user.session_id,
            "app_id": app.id,
            "workflow_id": turn.version.id,
        }
        run = WorkflowRun(
            turn.graph,
            inputs=turn.inputs,
            system=system,
            conversation=turn.variables,
            services=self._services,
            limits=self._limits,
            run_id=turn.run_id,
        )
        started = time.perf_counter()
        prompt_tokens = completion_tokens = 0
        finished: WorkflowFinished | None = None
        tasks = self._workflow_runs.tasks
        with tasks.running(turn.task_id, run, app_id=app.id, user=turn.end_user.session_id):
            async for event in run.events():
                collector.observe(event)
                if isinstance(event, NodeFinished):
                    prompt_tokens += int(event.metadata.get("prompt_tokens", 0) or 0)
                    completion_tokens += int(event.metadata.get("completion_tokens", 0) or 0)
                if isinstance(event, WorkflowFinished):
                    finished = event
                    turn.answer = str(event.outputs.get("answer", ""))
                    turn.usage = usage_record(prompt_tokens, completion_tokens, time.perf_counter() - started)
                yield event
        if collector.record is not None:
            self._recorder.record(collector.record)
        assert finished is not None
        await self._close(turn, finished, run.conversation, dialogue_count)

    async def _open(self, turn: PreparedTurn) -> None:
        async with self._db.transaction() as session:
            if turn.conversation is None:
                conversation = Conversation(
                    id=turn.conversation_id,
                    workspace_id=turn.app.workspace_id,
                    app_id=turn.app.id,
                    app_version_id=turn.version.id,
                    mode=turn.app.mode,
                    name=turn.query[:NAME_LENGTH] or "New conversation",
                    inputs=turn.inputs,
                    from_source="api",
                    from_end_user_id=turn.end_user.id,
                )
                session.add(conversation)
                await session.flush()
                for name, value in turn.variables.items():
                    session.add(
                        ConversationVariable(
                            conversation_id=conversation.id,
                            app_id=turn.app.id,
                            name=name,
                            value_type=_value_type(value),
                            value={"value": value},
                        )
                    )
            session.add(
                Message(
                    id=turn.message_id,
                    workspace_id=turn.app.workspace_id,
                    app_id=turn.app.id,
                    conversation_id=turn.conversation_id,
                    query=turn.query,
                    inputs=turn.inputs,
                    from_source="api",
                    from_end_user_id=turn.end_user.id,
                    workflow_run_id=turn.run_id,
                )
            )

    async def _close(
        self, turn: PreparedTurn, finished: WorkflowFinished, variables: Mapping[str, Any], dialogue_count: int
    ) -> None:
        async with self._db.transaction() as session:
            message = await session.get(Message, turn.message_id)
            if message is not None:
                message.answer = turn.answer
                message.status = "normal" if finished.status in ("succeeded", "partial-succeeded") else "error"
                message.error = finished.error
                message.message_metadata = {"usage": turn.usage, "workflow_run_status": finished.status}
            conversation = await session.get(Conversation, turn.conversation_id)
            if conversation is not None:
                conversation.dialogue_count = dialogue_count
            rows = await session.execute(
                select(ConversationVariable).where(ConversationVariable.conversation_id == turn.conversation_id)
            )
            for row in rows.scalars():
                if row.name in variables and row.value.get("value") != variables[row.name]:
                    row.value = {"value": variables[row.name]}


def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array[any]"
    return "string"
