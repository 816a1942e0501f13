"""Feedback on messages, and the app's feedback list."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from plait.api.deps import PlaitDep
from plait.api.service.auth import KeyApp

router = APIRouter(tags=["service: feedback"])


class FeedbackBody(BaseModel):
    user: str = Field(min_length=1, max_length=255)
    rating: Literal["like", "dislike"] | None = None
    content: str | None = Field(default=None, max_length=10_000)


@router.post("/messages/{message_id}/feedbacks")
async def give_feedback(message_id: str, body: FeedbackBody, app: KeyApp, plait: PlaitDep) -> dict[str, str]:
    await plait.feedback.give(app, body.user, message_id, rating=body.rating, content=body.content)
    return {"result": "success"}


@router.get("/app/feedbacks")
async def list_feedback(app: KeyApp, plait: PlaitDep, page: int = 1, limit: int = 20) -> dict[str, Any]:
    result, _total = await plait.feedback.page(app, page=page, limit=limit)
    return {
        "data": [
            {
                "id": row.id,
                "app_id": row.app_id,
                "conversation_id": row.conversation_id,
                "message_id": row.message_id,
                "rating": row.rating,
                "content": row.content,
                "from_source": row.from_source,
                "from_end_user_id": row.from_end_user_id,
                "from_account_id": row.from_account_id,
                "created_at": row.created_at.isoformat(),  # ISO-8601 here, as in Dify
                "updated_at": row.updated_at.isoformat(),
            }
            for row in result.items
        ]
    }
