"""Chat turns through the Service API: one user message in a chat, agent, chatflow or
completion app (all of them run as graphs on the engine).

A turn belongs to a conversation (new, or an existing one of the same end user), stores a
message row, runs the published workflow with the conversation's variables (and, for nodes
with memory, its earlier turns), and then, in one transaction, stores the answer, the
accounting and the conversation variables as the run left them, so the next turn continues
from there. A turn whose run failed answers with the error Dify gives: the model's own
(``provider_not_initialize``...) when a model call ended it, else ``invalid_param`` "Run
failed: ...".

With annotation reply on, a query close enough to an annotation is answered with it instead
(``annotation_reply``): no model call and no workflow run, the message stored as any other.

A new conversation is named after its first query; with ``auto_generate_name`` the app's
model names it in the background once the turn is stored (:mod:`plait.app.conversation_names`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select

from plait.app.annotation_reply import AnnotationMatch, AnnotationReplies, record_hit
from plait.app.conversation_memory import ConversationHistory, GivenHistory
from plait.app.conversation_names import ConversationNames, provisional_name
from plait.app.engine_services import EngineServices
from plait.app.knowledge_retrieval import retriever_resource
from plait.app.run_records import RunCollector, RunOwner, RunRecorder
from plait.app.workflow_runs import WorkflowRuns
from plait.engine.compile import CompiledGraph
from plait.engine.runtime import RunLimits, WorkflowRun
from plait.errors import BadRequest, InvalidInput, NotFound, PlaitError
from plait.events import AgentLog, NodeFinished, RunEvent, TextChunk, WorkflowFinished
from plait.ids import is_uuid, new_id
from plait.providers.pricing import add_usage_records
from plait.storage.broker import RunChannelInfo
from plait.storage.db import Database
from plait.storage.db.tables import App, AppVersion, Conversation, ConversationVariable, EndUser, Message

# The node id an annotation's answer is streamed as (no node of the graph produced it).
ANNOTATION_REPLY = "annotation_reply"


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
    annotation: AnnotationMatch | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    # Set when the run failed: what the API answers with.
    error: PlaitError | None = None
    # Agent apps: each finished round, as the message's history shows it.
    agent_thoughts: list[dict[str, Any]] = field(default_factory=list)
    # The conversation so far when the caller keeps it (the OpenAI API), instead of the stored one.
    history: list[tuple[str, str]] | None = None
    # A new conversation gets its name from the app's model after the turn (Dify's auto_generate_name).
    auto_generate_name: bool = False
    # Passages the answer was given from: knowledge-retrieval results, in Dify's shape.
    retriever_resources: list[dict[str, Any]] = field(default_factory=list)


def turn_error(finished: WorkflowFinished) -> PlaitError | None:
    """The API error of a failed turn, as Dify gives it."""
    if finished.status != "failed":
        return None
    failure = finished.failure
    if failure is not None and failure.code:
        return PlaitError(failure.message, code=failure.code, status=failure.status or 400)
    return InvalidInput(f"Run failed: {finished.error}")


def thought_record(event: AgentLog) -> dict[str, Any]:
    return {
        "id": event.id,
        "position": event.position,
        "thought": event.thought,
        "tool": event.tool,
        "tool_input": event.tool_input,
        "observation": event.observation,
        "created_at": int(time.time()),
    }


def retriever_resources(outputs: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """A knowledge-retrieval node's results as an answer's ``retriever_resources``."""
    records = (outputs or {}).get("result")
    if not isinstance(records, list):
        return []
    return [retriever_resource(r) for r in records if isinstance(r, Mapping) and isinstance(r.get("metadata"), Mapping)]


def node_usage(event: NodeFinished) -> dict[str, Any] | None:
    """A model-calling node's Dify usage object (LLM, agent, classifier, extractor)."""
    outputs = event.outputs or {}
    usage = outputs.get("usage") or outputs.get("__usage")
    return usage if isinstance(usage, dict) and "total_price" in usage else None


class ChatRuns:
    def __init__(
        self,
        db: Database,
        workflow_runs: WorkflowRuns,
        recorder: RunRecorder,
        services: EngineServices,
        limits: RunLimits,
        annotation_replies: AnnotationReplies | None = None,
        names: ConversationNames | None = None,
    ) -> None:
        self._db = db
        self._names = names
        self._annotation_replies = annotation_replies
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
        files: list[Any] | None = None,
        auto_generate_name: bool = False,
    ) -> PreparedTurn:
        if completion:
            if app.mode != "completion":
                # Dify's code for this mismatch, kept for its clients.
                raise BadRequest("Please check if your app mode matches the right API route.", code="app_unavailable")
            conversation_id = None
        elif app.mode not in ("advanced-chat", "chat", "agent-chat"):
            raise BadRequest("Please check if your app mode matches the right API route.", code="not_chat_app")
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
        else:
            inputs = await self._workflow_runs.resolve_files(graph, inputs, end_user)
        checked = self._workflow_runs.check_inputs(graph, inputs)
        turn = PreparedTurn(app, version, graph, checked, query, end_user, conversation, variables)
        turn.files = await self._workflow_runs.system_files(files, end_user)
        turn.auto_generate_name = auto_generate_name and not completion
        if conversation is not None:
            turn.conversation_id = conversation.id
        if not completion and self._annotation_replies is not None:
            turn.annotation = await self._annotation_replies.match(app, query)
        return turn

    async def execute(self, turn: PreparedTurn) -> AsyncIterator[RunEvent]:
        app = turn.app
        await self._open(turn)
        if turn.annotation is not None:
            async for event in self._answer_from_annotation(turn, turn.annotation):
                yield event
            self._name_later(turn)
            return
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
            "files": turn.files,
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
            services=replace(
                self._services.for_workspace(app.workspace_id),
                memory=(
                    GivenHistory(turn.history)
                    if turn.history is not None
                    else ConversationHistory(self._db, turn.conversation_id, turn.message_id)
                ),
            ),
            limits=self._limits,
            run_id=turn.run_id,
        )
        started = time.perf_counter()
        usages: list[dict[str, Any]] = []
        finished: WorkflowFinished | None = None
        tasks = self._workflow_runs.tasks
        events = run.events()
        if app.mode == "advanced-chat":  # chatflows, like workflows, can be followed while they run
            channel = RunChannelInfo(
                turn.run_id, turn.task_id, app.id, turn.end_user.session_id, turn.version.id, turn.created_at
            )
            events = self._workflow_runs.broadcast(channel, events)
        with tasks.running(turn.task_id, run, app_id=app.id, user=turn.end_user.session_id):
            async for event in events:
                collector.observe(event)
                if isinstance(event, NodeFinished) and (usage := node_usage(event)) is not None:
                    usages.append(usage)
                if isinstance(event, NodeFinished) and event.node_type == "knowledge-retrieval":
                    turn.retriever_resources.extend(retriever_resources(event.outputs))
                if isinstance(event, AgentLog) and event.status == "success":
                    turn.agent_thoughts.append(thought_record(event))
                if isinstance(event, WorkflowFinished):
                    finished = event
                    turn.answer = str(event.outputs.get("answer", ""))
                    turn.usage = add_usage_records(usages, time.perf_counter() - started)
                    turn.error = turn_error(event)
                yield event
        stored = self._recorder.record(collector.record) if collector.record is not None else None
        if app.mode == "advanced-chat":
            self._workflow_runs.release(turn.run_id, stored)
        assert finished is not None
        await self._close(turn, finished, run.conversation, dialogue_count)
        self._name_later(turn)

    def _name_later(self, turn: PreparedTurn) -> None:
        """After the first turn of a conversation that asked for it: the turn is answered and
        stored, so the name (a model call) runs in the background and cannot hold it up."""
        if self._names is not None and turn.auto_generate_name and turn.conversation is None and turn.error is None:
            self._names.name_later(turn.app, turn.version, turn.conversation_id, turn.query)

    async def _open(self, turn: PreparedTurn) -> None:
        async with self._db.transaction() as session:
            if turn.conversation is None:
                conversation = Conversation(
                    id=turn.conversation_id,
                    workspace_id=turn.app.workspace_id,
                    app_id=turn.app.id,
                    app_version_id=turn.version.id,
                    mode=turn.app.mode,
                    name=provisional_name(turn.query),
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
                    workflow_run_id=None if turn.annotation else turn.run_id,
                )
            )

    async def _answer_from_annotation(self, turn: PreparedTurn, match: AnnotationMatch) -> AsyncIterator[RunEvent]:
        """The annotation's answer as the turn's text, and its end; the workflow is not run."""
        turn.answer = match.answer
        turn.usage = add_usage_records([], 0.0)
        yield TextChunk(match.answer, ANNOTATION_REPLY, ANNOTATION_REPLY, is_final=True)
        async with self._db.transaction() as session:
            message = await session.get(Message, turn.message_id)
            if message is not None:
                message.answer = match.answer
                message.message_metadata = {"usage": turn.usage, "annotation_reply": match.reply}
            conversation = await session.get(Conversation, turn.conversation_id)
            if conversation is not None:
                conversation.dialogue_count = (turn.conversation.dialogue_count if turn.conversation else 0) + 1
            await record_hit(
                session, turn.app, match, query=turn.query, message_id=turn.message_id, end_user_id=turn.end_user.id
            )
        yield WorkflowFinished(turn.run_id, "succeeded", {"answer": match.answer})

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
                if turn.retriever_resources:
                    message.message_metadata["retriever_resources"] = turn.retriever_resources
                if turn.agent_thoughts:
                    message.message_metadata["agent_thoughts"] = turn.agent_thoughts
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
