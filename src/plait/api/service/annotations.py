"""Annotations through the Service API: list, create, change and delete an app's curated
answers, and switch annotation reply on or off (a background job, polled by its id)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from plait.api.deps import PlaitDep
from plait.api.paging import numbered_page
from plait.api.service.auth import KeyApp
from plait.app.annotations import MAX_ANSWER_LENGTH, MAX_QUESTION_LENGTH, NumberedPage
from plait.app.audit import Actor
from plait.storage.db.tables import Annotation, AnnotationJob

router = APIRouter(tags=["service: annotations"])

# Changes made with an app key; Dify attributes them to the workspace owner, and so does Plait.
API_KEY = Actor(type="api_key")


def annotation_item(row: Annotation) -> dict[str, Any]:
    return {
        "id": row.id,
        "question": row.question,
        "answer": row.answer,
        "hit_count": row.hit_count,
        "created_at": int(row.created_at.timestamp()),
    }


def annotation_page(result: NumberedPage[Annotation]) -> dict[str, Any]:
    return numbered_page(result, [annotation_item(row) for row in result.items])


def job_item(job: AnnotationJob, *, new: bool = True) -> dict[str, str]:
    # A job already under way for the app is answered as Dify does: its id, "processing".
    return {"job_id": job.id, "job_status": job.status if new else "processing"}


def job_status(job: AnnotationJob) -> dict[str, str]:
    return {"job_id": job.id, "job_status": job.status, "error_msg": job.error_msg}


class AnnotationBody(BaseModel):
    question: str = Field(max_length=MAX_QUESTION_LENGTH)
    answer: str = Field(max_length=MAX_ANSWER_LENGTH)


class ReplySettingBody(BaseModel):
    # All three are required for "disable" too, as in Dify.
    embedding_provider_name: str = Field(max_length=255)
    embedding_model_name: str = Field(max_length=255)
    score_threshold: float


@router.get("/apps/annotations")
async def list_annotations(
    app: KeyApp,
    plait: PlaitDep,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = 20,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    return annotation_page(await plait.annotations.page(app, page=page, limit=limit, keyword=keyword))


@router.post("/apps/annotations", status_code=201)
async def create_annotation(body: AnnotationBody, app: KeyApp, plait: PlaitDep) -> dict[str, Any]:
    row = await plait.annotations.create(app, API_KEY, question=body.question, answer=body.answer)
    return annotation_item(row)


@router.put("/apps/annotations/{annotation_id}")
async def update_annotation(annotation_id: str, body: AnnotationBody, app: KeyApp, plait: PlaitDep) -> dict[str, Any]:
    row = await plait.annotations.update(app, API_KEY, annotation_id, question=body.question, answer=body.answer)
    return annotation_item(row)


@router.delete("/apps/annotations/{annotation_id}", status_code=204)
async def delete_annotation(annotation_id: str, app: KeyApp, plait: PlaitDep) -> Response:
    await plait.annotations.delete(app, API_KEY, annotation_id)
    return Response(status_code=204)


@router.post("/apps/annotation-reply/{action}")
async def annotation_reply(action: str, body: ReplySettingBody, app: KeyApp, plait: PlaitDep) -> dict[str, str]:
    job, new = await plait.annotation_jobs.start(app, API_KEY, action, **body.model_dump())
    return job_item(job, new=new)


@router.get("/apps/annotation-reply/{action}/status/{job_id}")
async def annotation_reply_status(action: str, job_id: str, app: KeyApp, plait: PlaitDep) -> dict[str, str]:
    return job_status(await plait.annotation_jobs.status(app, action, job_id))
