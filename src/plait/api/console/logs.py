"""An app's logs in the console: chat and completion conversations with their summaries, a
conversation's messages with feedback and annotations, the workflow app log, and workflow
runs with their node executions. Logs hold end users' words, so they need the owner, admin
or editor role, as Dify's console asks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from plait.api.deps import ConsoleEditor, PlaitDep
from plait.api.paging import numbered_page
from plait.api.service.conversations import message_item
from plait.api.service.workflows import log_item
from plait.app.conversation_logs import ConversationLog, MessageLog
from plait.app.run_logs import RunLog, require_mode
from plait.storage.db.tables import Account, Annotation, EndUser, Message, NodeExecution, WorkflowRun

router = APIRouter(tags=["console: logs"])

CHAT_MODES = ("chat", "agent-chat", "advanced-chat")
Page = Annotated[int, Query()]
Limit = Annotated[int, Query()]
Text = Annotated[str | None, Query(max_length=255)]


def _seconds(value: Any) -> int | None:
    return int(value.timestamp()) if value is not None else None


def account_item(account: Account | None) -> dict[str, Any] | None:
    return {"id": account.id, "name": account.name, "email": account.email} if account else None


def end_user_item(end_user: EndUser | None) -> dict[str, Any] | None:
    if end_user is None:
        return None
    return {
        "id": end_user.id,
        "type": end_user.type,
        "is_anonymous": end_user.is_anonymous,
        "session_id": end_user.session_id,
    }


def _simple_model_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    return {"model": config.get("model"), "pre_prompt": config.get("pre_prompt")} if config else None


def _annotation(found: tuple[Annotation, Account | None] | None) -> dict[str, Any] | None:
    if found is None:
        return None
    annotation, account = found
    return {
        "id": annotation.id,
        "question": annotation.question,
        "content": annotation.answer,
        "account": account_item(account),
        "created_at": _seconds(annotation.created_at),
    }


def console_message(log: MessageLog) -> dict[str, Any]:
    """Dify's console message: the Service API's message item, with who rated it and how,
    its annotation, the annotation that answered it, and the run that produced it."""
    message: Message = log.message
    rating = next((feedback.rating for feedback, _ in log.feedbacks if feedback.from_source == "user"), None)
    item = message_item(message, rating)
    hit = None
    if log.hit is not None:
        row, author = log.hit
        hit = {
            "annotation_id": row.annotation_id,
            "annotation_create_account": account_item(author),
            "created_at": _seconds(row.created_at),
        }
    item.update(
        message=[],
        from_source=message.from_source,
        from_end_user_id=message.from_end_user_id,
        from_account_id=message.from_account_id,
        workflow_run_id=message.workflow_run_id,
        metadata=message.message_metadata,
        feedbacks=[
            {
                "rating": feedback.rating,
                "content": feedback.content,
                "from_source": feedback.from_source,
                "from_end_user_id": feedback.from_end_user_id,
                "from_account": account_item(account),
            }
            for feedback, account in log.feedbacks
        ],
        annotation=_annotation(log.annotation),
        annotation_hit_history=hit,
    )
    return item


def _conversation_common(log: ConversationLog) -> dict[str, Any]:
    conversation = log.conversation
    return {
        "id": conversation.id,
        "status": conversation.status,
        "from_source": conversation.from_source,
        "from_end_user_id": conversation.from_end_user_id,
        "from_end_user_session_id": log.end_user_session_id,
        "from_account_id": conversation.from_account_id,
        "from_account_name": log.account_name,
        "read_at": None,
        "created_at": _seconds(conversation.created_at),
        "updated_at": _seconds(conversation.updated_at),
        "model_config": _simple_model_config(log.model_config),
        "user_feedback_stats": log.user_feedback,
        "admin_feedback_stats": log.admin_feedback,
    }


def chat_conversation_item(log: ConversationLog) -> dict[str, Any]:
    return {
        **_conversation_common(log),
        "name": log.conversation.name,
        # Dify's summary, or the first query while there is none (Plait does not summarise).
        "summary": log.first_message.query if log.first_message else "",
        "annotated": log.annotation is not None,
        "message_count": log.message_count,
        "status_count": log.status_count,
    }


def completion_conversation_item(log: ConversationLog) -> dict[str, Any]:
    first = log.first_message
    return {
        **_conversation_common(log),
        "annotation": _annotation(log.annotation),
        "message": console_message(MessageLog(first, [], None, None)) if first else None,
    }


@router.get("/apps/{app_id}/chat-conversations")
async def chat_conversations(
    app_id: str,
    user: ConsoleEditor,
    plait: PlaitDep,
    page: Page = 1,
    limit: Limit = 20,
    keyword: Text = None,
    start: Text = None,
    end: Text = None,
    annotation_status: Annotated[str, Query(max_length=32)] = "all",
    sort_by: Annotated[str, Query(max_length=32)] = "-updated_at",
    message_count_gte: Annotated[int | None, Query()] = None,
) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    require_mode(app, CHAT_MODES)
    result = await plait.conversation_logs.chat_conversations(
        app,
        page=page,
        limit=limit,
        timezone=user.timezone,
        keyword=keyword,
        start=start,
        end=end,
        annotation_status=annotation_status,
        sort_by=sort_by,
        message_count_gte=message_count_gte,
    )
    return numbered_page(result, [chat_conversation_item(log) for log in result.items])


@router.get("/apps/{app_id}/completion-conversations")
async def completion_conversations(
    app_id: str,
    user: ConsoleEditor,
    plait: PlaitDep,
    page: Page = 1,
    limit: Limit = 20,
    keyword: Text = None,
    start: Text = None,
    end: Text = None,
    annotation_status: Annotated[str, Query(max_length=32)] = "all",
) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    require_mode(app, ("completion",))
    result = await plait.conversation_logs.completion_conversations(
        app,
        page=page,
        limit=limit,
        timezone=user.timezone,
        keyword=keyword,
        start=start,
        end=end,
        annotation_status=annotation_status,
    )
    return numbered_page(result, [completion_conversation_item(log) for log in result.items])


@router.get("/apps/{app_id}/chat-messages")
async def chat_messages(
    app_id: str,
    user: ConsoleEditor,
    plait: PlaitDep,
    conversation_id: Annotated[str, Query(max_length=64)],
    first_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 20,
) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    require_mode(app, CHAT_MODES)
    result = await plait.conversation_logs.messages(app, conversation_id, first_id=first_id, limit=limit)
    return {"limit": result.limit, "has_more": result.has_more, "data": [console_message(log) for log in result.items]}


@router.get("/apps/{app_id}/workflow-app-logs")
async def workflow_app_logs(
    app_id: str,
    user: ConsoleEditor,
    plait: PlaitDep,
    page: Page = 1,
    limit: Limit = 20,
    status: Annotated[str | None, Query(max_length=32)] = None,
    keyword: Text = None,
    created_at__before: Annotated[datetime | None, Query()] = None,
    created_at__after: Annotated[datetime | None, Query()] = None,
) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    require_mode(app, ("workflow",))
    result = await plait.workflow_logs.page(
        app,
        page=page,
        limit=limit,
        status=status,
        keyword=keyword,
        created_before=created_at__before,
        created_after=created_at__after,
    )
    return numbered_page(result, [log_item(run, end_user) for run, end_user in result.runs])


def run_item(log: RunLog) -> dict[str, Any]:
    run: WorkflowRun = log.run
    return {
        "id": run.id,
        "version": run.version,
        "status": run.status,
        "elapsed_time": run.elapsed_time,
        "total_tokens": run.total_tokens,
        "total_steps": run.total_steps,
        "created_by_role": run.created_by_role,
        "created_by_account": account_item(log.account),
        "created_by_end_user": end_user_item(log.end_user),
        "created_at": _seconds(run.created_at),
        "finished_at": _seconds(run.finished_at),
        "exceptions_count": run.exceptions_count,
        "retry_index": 0,
        "triggered_from": run.triggered_from,
        "conversation_id": run.conversation_id,
        "message_id": run.message_id,
    }


@router.get("/apps/{app_id}/workflow-runs")
async def workflow_runs(
    app_id: str,
    user: ConsoleEditor,
    plait: PlaitDep,
    last_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 20,
    status: Annotated[str | None, Query(max_length=32)] = None,
    triggered_from: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    result = await plait.run_logs.page(app, last_id=last_id, limit=limit, status=status, triggered_from=triggered_from)
    return {"limit": result.limit, "has_more": result.has_more, "data": [run_item(log) for log in result.items]}


@router.get("/apps/{app_id}/workflow-runs/{run_id}")
async def workflow_run(app_id: str, run_id: str, user: ConsoleEditor, plait: PlaitDep) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    log = await plait.run_logs.detail(app, run_id)
    run = log.run
    return {
        **run_item(log),
        "graph": log.graph,
        "inputs": run.inputs,
        "outputs": run.outputs or {},
        "error": run.error,
    }


def node_execution_item(node: NodeExecution, log: RunLog) -> dict[str, Any]:
    return {
        "id": node.id,
        "index": node.index,
        "predecessor_node_id": node.predecessor_node_id,
        "node_id": node.node_id,
        "node_type": node.node_type,
        "title": node.title,
        "inputs": node.inputs,
        "process_data": node.process_data,
        "outputs": node.outputs,
        "status": node.status,
        "error": node.error,
        "elapsed_time": node.elapsed_time,
        "execution_metadata": node.execution_metadata,
        "extras": {},
        "created_at": _seconds(node.created_at),
        "created_by_role": log.run.created_by_role,
        "created_by_account": account_item(log.account),
        "created_by_end_user": end_user_item(log.end_user),
        "finished_at": _seconds(node.finished_at),
        "inputs_truncated": False,
        "outputs_truncated": False,
        "process_data_truncated": False,
    }


@router.get("/apps/{app_id}/workflow-runs/{run_id}/node-executions")
async def node_executions(app_id: str, run_id: str, user: ConsoleEditor, plait: PlaitDep) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    log, nodes = await plait.run_logs.node_executions(app, run_id)
    return {"data": [node_execution_item(node, log) for node in nodes]}
