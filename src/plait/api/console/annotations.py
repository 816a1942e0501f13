"""Annotations in the console: an app's curated answers (also from a log's message), their
hit history, and annotation reply's switch and setting. Reading needs a console session;
changing needs the owner, admin or editor role."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from plait.api.deps import ConsoleEditor, ConsoleUser, PlaitDep, RequestId
from plait.api.service.annotations import (
    ReplySettingBody,
    annotation_item,
    annotation_page,
    job_item,
    job_status,
)
from plait.app.annotations import MAX_ANSWER_LENGTH, MAX_QUESTION_LENGTH
from plait.storage.db.tables import AnnotationSetting

router = APIRouter(tags=["console: annotations"])


def setting_item(setting: AnnotationSetting | None) -> dict[str, Any]:
    if setting is None:
        return {"enabled": False}
    return {
        "id": setting.id,
        "enabled": True,
        "score_threshold": setting.score_threshold,
        "embedding_model": {
            "embedding_provider_name": setting.embedding_provider_name,
            "embedding_model_name": setting.embedding_model_name,
        },
    }


class CreateBody(BaseModel):
    question: str | None = Field(default=None, max_length=MAX_QUESTION_LENGTH)
    answer: str | None = Field(default=None, max_length=MAX_ANSWER_LENGTH)
    message_id: str | None = None


class UpdateBody(BaseModel):
    question: str = Field(max_length=MAX_QUESTION_LENGTH)
    answer: str = Field(max_length=MAX_ANSWER_LENGTH)


class ThresholdBody(BaseModel):
    score_threshold: float


@router.get("/apps/{app_id}/annotations")
async def list_annotations(
    app_id: str,
    user: ConsoleUser,
    plait: PlaitDep,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = 20,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    return annotation_page(await plait.annotations.page(app, page=page, limit=limit, keyword=keyword))


@router.post("/apps/{app_id}/annotations", status_code=201)
async def create_annotation(
    app_id: str, body: CreateBody, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId
) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    row = await plait.annotations.create(
        app, user.actor(request_id), question=body.question, answer=body.answer, message_id=body.message_id
    )
    return annotation_item(row)


@router.get("/apps/{app_id}/annotations/count")
async def count_annotations(app_id: str, user: ConsoleUser, plait: PlaitDep) -> dict[str, int]:
    app = await plait.apps.get(user.workspace_id, app_id)
    return {"count": await plait.annotations.count(app)}


# Dify's console changes an annotation with POST; PUT is the Service API's verb, taken too.
@router.post("/apps/{app_id}/annotations/{annotation_id}")
@router.put("/apps/{app_id}/annotations/{annotation_id}")
async def update_annotation(
    app_id: str, annotation_id: str, body: UpdateBody, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId
) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    row = await plait.annotations.update(
        app, user.actor(request_id), annotation_id, question=body.question, answer=body.answer
    )
    return annotation_item(row)


@router.delete("/apps/{app_id}/annotations/{annotation_id}", status_code=204)
async def delete_annotation(
    app_id: str, annotation_id: str, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId
) -> Response:
    app = await plait.apps.get(user.workspace_id, app_id)
    await plait.annotations.delete(app, user.actor(request_id), annotation_id)
    return Response(status_code=204)


@router.get("/apps/{app_id}/annotations/{annotation_id}/hit-histories")
async def hit_histories(
    app_id: str,
    annotation_id: str,
    user: ConsoleUser,
    plait: PlaitDep,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = 20,
) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    result = await plait.annotations.hits(app, annotation_id, page=page, limit=limit)
    data = [
        {
            "id": hit.id,
            "source": hit.source,
            "score": hit.score,
            "question": hit.question,
            "created_at": int(hit.created_at.timestamp()),
            "match": hit.annotation_question,
            "response": hit.annotation_answer,
        }
        for hit in result.items
    ]
    return {
        "data": data,
        "has_more": result.has_more,
        "limit": result.limit,
        "total": result.total,
        "page": result.page,
    }


@router.post("/apps/{app_id}/annotation-reply/{action}")
async def annotation_reply(
    app_id: str, action: str, body: ReplySettingBody, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId
) -> dict[str, str]:
    app = await plait.apps.get(user.workspace_id, app_id)
    job, new = await plait.annotation_jobs.start(app, user.actor(request_id), action, **body.model_dump())
    return job_item(job, new=new)


@router.get("/apps/{app_id}/annotation-reply/{action}/status/{job_id}")
async def annotation_reply_status(
    app_id: str, action: str, job_id: str, user: ConsoleUser, plait: PlaitDep
) -> dict[str, str]:
    app = await plait.apps.get(user.workspace_id, app_id)
    return job_status(await plait.annotation_jobs.status(app, action, job_id))


@router.get("/apps/{app_id}/annotation-setting")
async def annotation_setting(app_id: str, user: ConsoleUser, plait: PlaitDep) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    return setting_item(await plait.annotations.setting(app))


@router.post("/apps/{app_id}/annotation-settings/{setting_id}")
async def update_annotation_setting(
    app_id: str, setting_id: str, body: ThresholdBody, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId
) -> dict[str, Any]:
    app = await plait.apps.get(user.workspace_id, app_id)
    setting = await plait.annotations.update_threshold(
        app, user.actor(request_id), setting_id, score_threshold=body.score_threshold
    )
    return setting_item(setting)
