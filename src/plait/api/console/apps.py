"""Apps in the console: list, create, import and export DSL, save drafts, publish, version
history, delete, and their API keys. Reading needs a console session; changing needs the
owner, admin or editor role."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from plait.api.deps import ConsoleEditor, ConsoleUser, PlaitDep, RequestId
from plait.engine.dsl import CURRENT_DSL_VERSION
from plait.storage.db.tables import ApiKey, App, AppVersion

router = APIRouter(tags=["console: apps"])


def app_item(app: App) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "mode": app.mode,
        "description": app.description,
        "icon_type": app.icon_type,
        "icon": app.icon,
        "icon_background": app.icon_background,
        "enable_site": app.enable_site,
        "enable_api": app.enable_api,
        "max_active_requests": app.max_active_requests,
        "published_version_id": app.published_version_id,
        "created_at": int(app.created_at.timestamp()),
        "updated_at": int(app.updated_at.timestamp()),
    }


def version_item(version: AppVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "version": version.version,
        "marked_name": version.marked_name,
        "marked_comment": version.marked_comment,
        "created_by": version.created_by,
        "created_at": int(version.created_at.timestamp()),
    }


def key_item(key: ApiKey, token: str | None = None) -> dict[str, Any]:
    return {
        "id": key.id,
        "type": key.kind,
        "token": token or key.token_hint,  # the key itself only once, when it is created
        "last_used_at": int(key.last_used_at.timestamp()) if key.last_used_at else None,
        "created_at": int(key.created_at.timestamp()),
    }


@router.get("/apps")
async def list_apps(
    user: ConsoleUser, plait: PlaitDep, page: int = 1, limit: int = 30, name: str | None = None
) -> dict[str, Any]:
    apps, total = await plait.apps.page(user.workspace_id, page=page, limit=limit, name=name)
    return {
        "page": page,
        "limit": limit,
        "total": total,
        "has_more": page * limit < total,
        "data": [app_item(a) for a in apps],
    }


class CreateBody(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    mode: str
    description: str = Field(default="", max_length=10_000)


@router.post("/apps", status_code=201)
async def create_app(body: CreateBody, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId) -> dict[str, Any]:
    app = await plait.apps.create(
        user.workspace_id, user.actor(request_id), name=body.name, mode=body.mode, description=body.description
    )
    return app_item(app)


class ImportBody(BaseModel):
    mode: str = "yaml-content"
    yaml_content: str = Field(max_length=10 * 1024 * 1024)
    name: str | None = Field(default=None, max_length=255)


@router.post("/apps/imports")
async def import_app(body: ImportBody, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId) -> dict[str, Any]:
    result = await plait.apps.import_dsl(user.workspace_id, user.actor(request_id), body.yaml_content, name=body.name)
    return {
        "id": result.app_id,
        "status": "completed-with-warnings" if result.warnings else "completed",
        "app_id": result.app_id,
        "app_mode": result.mode,
        "current_dsl_version": CURRENT_DSL_VERSION,
        "imported_dsl_version": result.imported_dsl_version,
        "warnings": result.warnings,
        "error": "",
    }


@router.get("/apps/{app_id}")
async def get_app(app_id: str, user: ConsoleUser, plait: PlaitDep) -> dict[str, Any]:
    return app_item(await plait.apps.get(user.workspace_id, app_id))


@router.get("/apps/{app_id}/export")
async def export_app(app_id: str, user: ConsoleEditor, plait: PlaitDep, include_secret: bool = False) -> dict[str, str]:
    return {"data": await plait.apps.export_dsl(user.workspace_id, app_id, include_secrets=include_secret)}


class DraftBody(BaseModel):
    graph: dict[str, Any]
    features: dict[str, Any] = {}
    environment_variables: list[dict[str, Any]] = []
    conversation_variables: list[dict[str, Any]] = []


@router.post("/apps/{app_id}/workflows/draft")
async def save_draft(
    app_id: str, body: DraftBody, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId
) -> dict[str, Any]:
    draft = await plait.apps.save_draft(user.workspace_id, user.actor(request_id), app_id, body.model_dump())
    return {"result": "success", "updated_at": int(draft.updated_at.timestamp())}


class PublishBody(BaseModel):
    marked_name: str = Field(default="", max_length=255)
    marked_comment: str = Field(default="", max_length=10_000)


@router.post("/apps/{app_id}/workflows/publish")
async def publish(
    app_id: str, body: PublishBody, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId
) -> dict[str, Any]:
    version = await plait.apps.publish(
        user.workspace_id,
        user.actor(request_id),
        app_id,
        marked_name=body.marked_name,
        marked_comment=body.marked_comment,
    )
    return {"result": "success", "id": version.id, "created_at": int(version.created_at.timestamp())}


@router.get("/apps/{app_id}/workflows")
async def versions(app_id: str, user: ConsoleUser, plait: PlaitDep) -> dict[str, Any]:
    items = [version_item(v) for v in await plait.apps.versions(user.workspace_id, app_id)]
    return {"items": items, "has_more": False}


@router.delete("/apps/{app_id}", status_code=204)
async def delete_app(app_id: str, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId) -> Response:
    await plait.apps.delete(user.workspace_id, user.actor(request_id), app_id)
    return Response(status_code=204)


@router.get("/apps/{app_id}/api-keys")
async def list_keys(app_id: str, user: ConsoleEditor, plait: PlaitDep) -> dict[str, Any]:
    await plait.apps.get(user.workspace_id, app_id)
    return {"data": [key_item(key) for key in await plait.keys.of_app(user.workspace_id, app_id)]}


@router.post("/apps/{app_id}/api-keys", status_code=201)
async def create_key(app_id: str, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId) -> dict[str, Any]:
    created = await plait.keys.create(user.workspace_id, user.actor(request_id), kind="app", app_id=app_id)
    keys = {key.id: key for key in await plait.keys.of_app(user.workspace_id, app_id)}
    return key_item(keys[created.id], created.token)


@router.delete("/apps/{app_id}/api-keys/{key_id}", status_code=204)
async def revoke_key(app_id: str, key_id: str, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId) -> Response:
    await plait.keys.revoke(user.workspace_id, user.actor(request_id), key_id, app_id=app_id)
    return Response(status_code=204)
