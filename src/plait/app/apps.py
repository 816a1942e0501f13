"""Apps: create, import and export DSL, list, publish.

An app has one draft version, which imports and edits change, and one row per publish. The
Service API runs the version ``apps.published_version_id`` points at. Publishing copies the
draft into a new version, moves that pointer and replaces the app's dataset links in one
transaction, so a failure anywhere leaves the previous version live and untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plait.app.audit import Actor, record
from plait.app.environment_secrets import EnvironmentSecrets
from plait.engine.dsl import APP_MODES, WORKFLOW_MODES, AppDocument, dump_app_document, parse_app_document
from plait.engine.workflow import compile_workflow
from plait.errors import BadRequest, InvalidInput, NotFound
from plait.storage.db import Database
from plait.storage.db.repos import apps as repo
from plait.storage.db.tables import DRAFT_VERSION, App, AppVersion
from plait.storage.db.types import utcnow

APP_SECTION_COLUMNS = ("name", "mode", "icon", "icon_type", "icon_background", "description", "use_icon_as_answer_icon")
MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class ImportResult:
    app_id: str
    mode: str
    imported_dsl_version: str
    published_version_id: str | None
    warnings: list[str]


def check_version(mode: str, workflow: dict[str, Any] | None) -> list[str]:
    """Compile a workflow configuration: every static check, at import and publish time
    rather than in the middle of a run. Returns the warnings; raises ``DslError``."""
    if mode not in WORKFLOW_MODES or workflow is None:
        return []
    return list(compile_workflow(workflow, mode=mode).warnings)


def blank_workflow() -> dict[str, Any]:
    return {
        "graph": {"nodes": [], "edges": [], "viewport": {"x": 0, "y": 0, "zoom": 1}},
        "features": {},
        "environment_variables": [],
        "conversation_variables": [],
    }


def referenced_dataset_ids(version: AppVersion) -> set[str]:
    """Dataset ids a configuration reads: knowledge-retrieval nodes and chat dataset configs."""
    found: set[str] = set()
    graph = (version.workflow or {}).get("graph") or {}
    for node in graph.get("nodes") or []:
        data = node.get("data") if isinstance(node, dict) else None
        if isinstance(data, dict) and data.get("type") == "knowledge-retrieval":
            found.update(value for value in data.get("dataset_ids") or [] if isinstance(value, str))
    configs = (version.model_config_ or {}).get("dataset_configs") or {}
    for item in (configs.get("datasets") or {}).get("datasets") or []:
        dataset = item.get("dataset") if isinstance(item, dict) else None
        if isinstance(dataset, dict) and isinstance(dataset.get("id"), str) and dataset.get("enabled", True):
            found.add(dataset["id"])
    return found


def _clean_name(name: str | None, fallback: str) -> str:
    cleaned = (name if name is not None else fallback).strip()
    if not cleaned:
        raise InvalidInput("App name must not be empty.", params="name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidInput(f"App name must be at most {MAX_NAME_LENGTH} characters.", params="name")
    return cleaned


class Apps:
    def __init__(
        self, db: Database, secrets: EnvironmentSecrets, *, on_changed: Callable[[str], None] | None = None
    ) -> None:
        self._db = db
        self._secrets = secrets
        # Told the id of an app once a change to it is committed (the Service API's key cache).
        self._on_changed = on_changed

    def _changed(self, app_id: str) -> None:
        if self._on_changed is not None:
            self._on_changed(app_id)

    async def in_workspace(self, workspace_id: str) -> list[App]:
        async with self._db.reader() as session:
            return await repo.list_apps(session, workspace_id)

    async def page(self, workspace_id: str, *, page: int, limit: int, name: str | None = None) -> tuple[list[App], int]:
        # Dify caps page at 99999; an unbounded one overflows the database's integers.
        if not 1 <= page <= 99_999 or not 1 <= limit <= 100:
            raise InvalidInput("page must be between 1 and 99999 and limit between 1 and 100", params="limit")
        async with self._db.reader() as session:
            return await repo.page_of_apps(session, workspace_id, page=page, limit=limit, name=name)

    async def versions(self, workspace_id: str, app_id: str) -> list[AppVersion]:
        async with self._db.reader() as session:
            app = await repo.app_in_workspace(session, workspace_id, app_id)
            if app is None:
                raise NotFound("App not found.")
            return await repo.versions(session, app.id)

    async def save_draft(self, workspace_id: str, actor: Actor, app_id: str, workflow: dict[str, Any]) -> AppVersion:
        """Replace a workflow app's draft (unchecked: drafts may be half-built; publishing
        compiles them)."""
        async with self._db.transaction() as session:
            app = await repo.app_in_workspace(session, workspace_id, app_id, for_update=True)
            if app is None:
                raise NotFound("App not found.")
            if app.mode not in WORKFLOW_MODES:
                raise BadRequest("Only workflow and chatflow apps have a workflow draft.", code="not_workflow_app")
            if not isinstance(workflow.get("graph"), dict):
                raise InvalidInput("graph must be an object with nodes and edges", params="graph")
            draft = await repo.draft(session, app.id)
            if draft is None:
                raise NotFound("App has no draft.")
            draft.workflow = self._secrets.sealed(workspace_id, app.id, workflow, previous=draft.workflow)
            app.updated_by = actor.account_id
            record(session, actor, "app.draft_saved", workspace_id=workspace_id, target_type="app", target_id=app.id)
        self._changed(app.id)
        return draft

    async def delete(self, workspace_id: str, actor: Actor, app_id: str) -> None:
        async with self._db.transaction() as session:
            app = await repo.app_in_workspace(session, workspace_id, app_id, for_update=True)
            if app is None:
                raise NotFound("App not found.")
            record(
                session,
                actor,
                "app.deleted",
                workspace_id=workspace_id,
                target_type="app",
                target_id=app.id,
                detail={"name": app.name},
            )
            await session.delete(app)
        self._changed(app.id)

    async def get(self, workspace_id: str, app_id: str) -> App:
        async with self._db.reader() as session:
            app = await repo.app_in_workspace(session, workspace_id, app_id)
        if app is None:
            raise NotFound("App not found.")
        return app

    async def create(self, workspace_id: str, actor: Actor, *, name: str, mode: str, description: str = "") -> App:
        if mode not in APP_MODES:
            raise InvalidInput(f"mode must be one of {', '.join(APP_MODES)}.", params="mode")
        app = App(
            workspace_id=workspace_id,
            name=_clean_name(name, ""),
            mode=mode,
            description=description,
            created_by=actor.account_id,
            updated_by=actor.account_id,
        )
        async with self._db.transaction() as session:
            session.add(app)
            await session.flush()
            session.add(
                AppVersion(
                    app_id=app.id,
                    workspace_id=workspace_id,
                    version=DRAFT_VERSION,
                    workflow=blank_workflow() if mode in WORKFLOW_MODES else None,
                    model_config_=None if mode in WORKFLOW_MODES else {},
                    created_by=actor.account_id,
                )
            )
            record(session, actor, "app.created", workspace_id=workspace_id, target_type="app", target_id=app.id)
        return app

    async def import_dsl(
        self, workspace_id: str, actor: Actor, text: str | bytes, *, name: str | None = None, publish: bool = False
    ) -> ImportResult:
        document = parse_app_document(text)
        warnings = check_version(document.mode, document.workflow)
        section = document.app
        app = App(
            workspace_id=workspace_id,
            name=_clean_name(name, document.name or "Untitled"),
            mode=document.mode,
            description=str(section.get("description") or ""),
            icon=section.get("icon"),
            icon_type=section.get("icon_type"),
            icon_background=section.get("icon_background"),
            use_icon_as_answer_icon=bool(section.get("use_icon_as_answer_icon", False)),
            created_by=actor.account_id,
            updated_by=actor.account_id,
        )
        published_id = None
        async with self._db.transaction() as session:
            session.add(app)
            await session.flush()
            draft = AppVersion(
                app_id=app.id,
                workspace_id=workspace_id,
                version=DRAFT_VERSION,
                workflow=self._secrets.sealed(workspace_id, app.id, document.workflow),
                model_config_=document.model_config,
                dsl_extra={
                    "top": document.extra,
                    "app": {k: v for k, v in section.items() if k not in APP_SECTION_COLUMNS},
                    "dependencies": document.dependencies,
                },
                created_by=actor.account_id,
            )
            session.add(draft)
            await session.flush()
            record(
                session,
                actor,
                "app.imported",
                workspace_id=workspace_id,
                target_type="app",
                target_id=app.id,
                detail={"dsl_version": document.version, "mode": document.mode},
            )
            if publish:
                published_id = (await self._publish_draft(session, app, draft, actor)).id
        return ImportResult(
            app_id=app.id,
            mode=app.mode,
            imported_dsl_version=document.version,
            published_version_id=published_id,
            warnings=warnings,
        )

    async def export_dsl(self, workspace_id: str, app_id: str, *, include_secrets: bool = False) -> str:
        """The app's draft as a DSL document; secret environment values are left empty
        unless ``include_secrets`` (as Dify does)."""
        async with self._db.reader() as session:
            app = await repo.app_in_workspace(session, workspace_id, app_id)
            if app is None:
                raise NotFound("App not found.")
            draft = await repo.draft(session, app.id)
        if draft is None:
            raise NotFound("App has no draft.")
        extra = draft.dsl_extra or {}
        section: dict[str, Any] = {key: getattr(app, key) for key in APP_SECTION_COLUMNS}
        section.update(extra.get("app") or {})
        workflow = draft.workflow
        if include_secrets:
            workflow = self._secrets.opened(workspace_id, app.id, workflow)
        elif workflow is not None:
            workflow = {
                **workflow,
                "environment_variables": [
                    {**var, "value": ""} if isinstance(var, dict) and var.get("value_type") == "secret" else var
                    for var in workflow.get("environment_variables") or []
                ],
            }
        document = AppDocument(
            version=draft.version,
            app=section,
            dependencies=extra.get("dependencies") or [],
            workflow=workflow,
            model_config=draft.model_config_,
            extra=extra.get("top") or {},
        )
        return dump_app_document(document)

    async def publish(
        self, workspace_id: str, actor: Actor, app_id: str, *, marked_name: str = "", marked_comment: str = ""
    ) -> AppVersion:
        async with self._db.transaction() as session:
            app = await repo.app_in_workspace(session, workspace_id, app_id, for_update=True)
            if app is None:
                raise NotFound("App not found.")
            draft = await repo.draft(session, app.id)
            if draft is None:
                raise NotFound("App has no draft to publish.")
            check_version(app.mode, draft.workflow)
            version = await self._publish_draft(session, app, draft, actor, marked_name, marked_comment)
        self._changed(app.id)
        return version

    async def published_version(self, workspace_id: str, app_id: str) -> AppVersion | None:
        async with self._db.reader() as session:
            app = await repo.app_in_workspace(session, workspace_id, app_id)
            if app is None:
                raise NotFound("App not found.")
            if app.published_version_id is None:
                return None
            return await repo.version(session, app.published_version_id)

    async def dataset_links(self, workspace_id: str, app_id: str) -> list[str]:
        async with self._db.reader() as session:
            app = await repo.app_in_workspace(session, workspace_id, app_id)
            if app is None:
                raise NotFound("App not found.")
            return await repo.dataset_links(session, app.id)

    @staticmethod
    async def _publish_draft(
        session: Any, app: App, draft: AppVersion, actor: Actor, marked_name: str = "", marked_comment: str = ""
    ) -> AppVersion:
        now = utcnow()
        version = AppVersion(
            app_id=app.id,
            workspace_id=app.workspace_id,
            # Dify names published versions by their publish time.
            version=now.strftime("%Y-%m-%d %H:%M:%S.%f"),
            marked_name=marked_name,
            marked_comment=marked_comment,
            workflow=draft.workflow,
            model_config_=draft.model_config_,
            dsl_extra=draft.dsl_extra,
            created_by=actor.account_id,
            created_at=now,
        )
        session.add(version)
        await session.flush()
        app.published_version_id = version.id
        app.updated_by = actor.account_id
        await session.flush()
        linked = await repo.existing_dataset_ids(session, app.workspace_id, referenced_dataset_ids(version))
        await repo.replace_dataset_links(session, app.id, linked)
        record(
            session,
            actor,
            "app.published",
            workspace_id=app.workspace_id,
            target_type="app",
            target_id=app.id,
            detail={"version_id": version.id, "version": version.version, "datasets": sorted(linked)},
        )
        return version
