"""Workflow runs through the Service API: runs of an app's published version, started by
an app key on behalf of an end user, recorded, and readable afterwards.

A run is prepared first (the app may run, the inputs are valid: every refusal happens before
anything runs), then executed as an event stream. Compiled graphs are cached per published
version, so a request pays for compilation once per publish.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from plait.app.end_users import EndUsers
from plait.app.run_records import RunCollector, RunOwner, RunRecorder
from plait.app.tasks import RunningTasks
from plait.engine.compile import CompiledGraph
from plait.engine.nodes.start import StartNode, validate_inputs
from plait.engine.runtime import RunLimits, WorkflowRun
from plait.engine.services import Services
from plait.engine.simple_app import workflow_from_model_config
from plait.engine.workflow import compile_workflow
from plait.errors import BadRequest, NotFound
from plait.events import RunEvent
from plait.ids import is_uuid, new_id
from plait.storage.db import Database
from plait.storage.db.repos import apps as apps_repo
from plait.storage.db.tables import DRAFT_VERSION, App, AppVersion, EndUser
from plait.storage.db.tables import WorkflowRun as WorkflowRunRow

PUBLISHED_CACHE_SIZE = 256
SIMPLE_MODES = ("chat", "completion")


@dataclass
class PreparedRun:
    app: App
    version: AppVersion
    graph: CompiledGraph
    inputs: dict[str, Any]
    end_user: EndUser
    task_id: str = field(default_factory=new_id)
    run_id: str = field(default_factory=new_id)
    stored: asyncio.Future[None] | None = None


class WorkflowRuns:
    def __init__(
        self,
        db: Database,
        end_users: EndUsers,
        recorder: RunRecorder,
        services: Services,
        limits: RunLimits,
        tasks: RunningTasks,
    ) -> None:
        self._db = db
        self.tasks = tasks
        self._end_users = end_users
        self._recorder = recorder
        self._services = services
        self._limits = limits
        self._published: OrderedDict[str, tuple[AppVersion, CompiledGraph]] = OrderedDict()

    @staticmethod
    def _compile(app: App, version: AppVersion) -> CompiledGraph:
        if version.workflow is not None:
            return compile_workflow(version.workflow, mode=app.mode)
        if version.model_config_ is not None and app.mode in SIMPLE_MODES:
            # Prompt-based apps run as a start -> llm -> answer graph; answers stream as in chat.
            return compile_workflow(workflow_from_model_config(app.mode, version.model_config_), mode="advanced-chat")
        raise BadRequest("App unavailable, please check your app configurations.", code="app_unavailable")

    async def _published_version(self, app: App, version_id: str) -> tuple[AppVersion, CompiledGraph] | None:
        """A published version of ``app`` with its compiled graph. Published versions never
        change (publishing makes new ones), so they are kept once read: a request pays for
        reading and compiling once per publish."""
        cached = self._published.get(version_id)
        if cached is not None:
            self._published.move_to_end(version_id)
            return cached if cached[0].app_id == app.id else None
        version = None
        if is_uuid(version_id):
            async with self._db.reader() as session:
                version = await apps_repo.version(session, version_id)
        if version is None or version.app_id != app.id:
            return None
        if version.version == DRAFT_VERSION:
            raise BadRequest("Only published versions can be run through the API.")
        entry = (version, self._compile(app, version))
        self._published[version_id] = entry
        if len(self._published) > PUBLISHED_CACHE_SIZE:
            self._published.popitem(last=False)
        return entry

    async def published(self, app: App, version_id: str | None = None) -> tuple[AppVersion, CompiledGraph]:
        """The version the Service API serves (or the published version asked for), compiled."""
        entry = await self._published_version(app, version_id or app.published_version_id or "")
        if entry is None:
            if version_id is not None:
                raise NotFound("Workflow not found.")
            raise BadRequest("App unavailable, please check your app configurations.", code="app_unavailable")
        return entry

    @staticmethod
    def check_inputs(graph: CompiledGraph, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The start inputs, validated against the start node (400 naming the variable)."""
        start = graph.nodes[graph.root]
        declared = start.config.variables if isinstance(start, StartNode) else []
        return validate_inputs(declared, inputs)

    async def end_user(self, app: App, user: str) -> EndUser:
        return await self._end_users.get_or_create(app.workspace_id, app.id, user)

    async def prepare(
        self, app: App, *, user: str, inputs: Mapping[str, Any], version_id: str | None = None
    ) -> PreparedRun:
        if app.mode != "workflow":
            raise BadRequest("Please check if your app mode matches the right API route.", code="not_workflow_app")
        version, graph = await self.published(app, version_id)
        checked = self.check_inputs(graph, inputs)
        return PreparedRun(app, version, graph, checked, await self.end_user(app, user))

    async def execute(self, prepared: PreparedRun) -> AsyncIterator[RunEvent]:
        """Run it, yielding events; the run's record is queued when it ends
        (``prepared.stored`` resolves once it is in the database)."""
        app, version = prepared.app, prepared.version
        owner = RunOwner(
            app.workspace_id,
            app.id,
            version.id,
            version.version,
            "app-run",
            "end_user",
            created_by_end_user_id=prepared.end_user.id,
        )
        collector = RunCollector(owner)
        system = {
            "user_id": prepared.end_user.session_id,
            "app_id": app.id,
            "workflow_id": version.id,
            "files": [],
        }
        run = WorkflowRun(
            prepared.graph,
            inputs=prepared.inputs,
            system=system,
            services=self._services,
            limits=self._limits,
            run_id=prepared.run_id,
        )
        with self.tasks.running(prepared.task_id, run, app_id=app.id, user=prepared.end_user.session_id):
            async for event in run.events():
                collector.observe(event)
                yield event
        if collector.record is not None:
            prepared.stored = self._recorder.record(collector.record)

    async def started_by(self, app: App, run_id: str, user: str) -> WorkflowRunRow:
        """A run of ``app``, if the end user ``user`` started it (else it reads as missing)."""
        row = await self.detail(app, run_id)
        async with self._db.reader() as session:
            starter = await session.get(EndUser, row.created_by_end_user_id) if row.created_by_end_user_id else None
        if starter is None or starter.session_id != user:
            raise NotFound("Workflow run not found.")
        return row

    async def detail(self, app: App, run_id: str) -> WorkflowRunRow:
        if not is_uuid(run_id):
            raise NotFound("Workflow run not found.")
        async with self._db.reader() as session:
            row = await session.get(WorkflowRunRow, run_id)
        if row is None or row.app_id != app.id:
            raise NotFound("Workflow run not found.")
        return row
