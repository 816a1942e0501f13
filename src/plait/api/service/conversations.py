"""Conversations and message history of the calling end user, and what they might ask next."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from plait.api.deps import PlaitDep
from plait.api.service.auth import KeyApp
from plait.storage.db.tables import Conversation, Message

router = APIRouter(tags=["service: conversations"])

User = Annotated[str, Query(min_length=1, max_length=255)]


def _seconds(value: Any) -> int:
    return int(value.timestamp())


def conversation_item(row: Conversation) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "inputs": row.inputs,
        "status": row.status,
        "introduction": row.introduction,
        "created_at": _seconds(row.created_at),
        "updated_at": _seconds(row.updated_at),
    }


def message_item(row: Message, rating: str | None = None) -> dict[str, Any]:
    usage = (row.message_metadata or {}).get("usage") or {}
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "parent_message_id": row.parent_message_id,
        "inputs": row.inputs,
        "query": row.query,
        "answer": row.answer,
        "status": row.status,
        "error": row.error,
        "message_files": [],
        "feedback": {"rating": rating} if rating else None,
        "retriever_resources": (row.message_metadata or {}).get("retriever_resources") or [],
        "agent_thoughts": [
            {
                **thought,
                "chain_id": None,
                "message_id": row.id,
                "tool_labels": {name: {"en_US": name} for name in str(thought.get("tool") or "").split(";") if name},
                "files": [],
            }
            for thought in (row.message_metadata or {}).get("agent_thoughts") or []
        ],
        "extra_contents": [],
        "message_tokens": usage.get("prompt_tokens", 0),
        "answer_tokens": usage.get("completion_tokens", 0),
        "total_tokens": usage.get("total_tokens", 0),
        "provider_response_latency": usage.get("latency", 0.0),
        "total_price": usage.get("total_price"),
        "currency": usage.get("currency", "USD"),
        "created_at": _seconds(row.created_at),
    }


@router.get("/conversations")
async def list_conversations(
    app: KeyApp,
    plait: PlaitDep,
    user: User,
    last_id: str | None = None,
    limit: Annotated[int, Query()] = 20,
    sort_by: str = "-updated_at",
) -> dict[str, Any]:
    page = await plait.conversations.page(app, user, last_id=last_id, limit=limit, sort_by=sort_by)
    return {"limit": page.limit, "has_more": page.has_more, "data": [conversation_item(row) for row in page.items]}


@router.get("/messages")
async def list_messages(
    app: KeyApp,
    plait: PlaitDep,
    conversation_id: str,
    user: User,
    first_id: str | None = None,
    limit: Annotated[int, Query()] = 20,
) -> dict[str, Any]:
    page = await plait.conversations.messages(app, user, conversation_id, first_id=first_id, limit=limit)
    ratings = await plait.feedback.ratings([row.id for row in page.items])
    data = [message_item(row, ratings.get(row.id)) for row in page.items]
    return {"limit": page.limit, "has_more": page.has_more, "data": data}


@router.get("/messages/{message_id}/suggested")
async def suggested_questions(message_id: str, app: KeyApp, plait: PlaitDep, user: User) -> dict[str, Any]:
    questions = await plait.suggested_questions.after(app, user, message_id)
    return {"result": "success", "data": questions}


class RenameBody(BaseModel):
    user: str = Field(min_length=1, max_length=255)
    name: str | None = Field(default=None, max_length=255)
    auto_generate: bool = False


@router.post("/conversations/{conversation_id}/name")
async def rename_conversation(conversation_id: str, body: RenameBody, app: KeyApp, plait: PlaitDep) -> dict[str, Any]:
    row = await plait.conversations.rename(
        app, body.user, conversation_id, name=body.name, auto_generate=body.auto_generate
    )
    return conversation_item(row)


class UserBody(BaseModel):
    user: str = Field(min_length=1, max_length=255)


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(conversation_id: str, body: UserBody, app: KeyApp, plait: PlaitDep) -> Response:
    await plait.conversations.delete(app, body.user, conversation_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/variables")
async def conversation_variables(conversation_id: str, app: KeyApp, plait: PlaitDep, user: User) -> dict[str, Any]:
    rows = await plait.conversations.variables(app, user, conversation_id)
    data = [
        {
            "id": row.id,
            "name": row.name,
            "value_type": row.value_type,
            "value": row.value.get("value"),
            "description": row.description,
            "created_at": _seconds(row.created_at),
            "updated_at": _seconds(row.updated_at),
        }
        for row in rows
    ]
    return {"limit": len(data), "has_more": False, "data": data}


@router.get("/end-users/{end_user_id}")
async def end_user(end_user_id: str, app: KeyApp, plait: PlaitDep) -> dict[str, Any]:
    row = await plait.conversations.end_user(app, end_user_id)
    return {
        "id": row.id,
        "tenant_id": row.workspace_id,
        "app_id": row.app_id,
        "type": row.type,
        "external_user_id": row.external_user_id,
        "name": row.name,
        "is_anonymous": row.is_anonymous,
        "session_id": row.session_id,
        "created_at": row.created_at.isoformat(),  # ISO-8601 here, as in Dify
        "updated_at": row.updated_at.isoformat(),
    }
