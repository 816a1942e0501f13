"""Workflow runs through the Service API: runs of an app's published version, started by
an app key on behalf of an end user, recorded, and readable afterwards.

A run is prepared first (the app may run, the inputs are valid: every refusal happens before
anything runs), then executed as an event stream. Compiled graphs are cached per published
version, so a request pays for compilation once per publish.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from plait.app.end_users import EndUsers
from plait.app.engine_services import EngineServices
from plait.app.environment_secrets import EnvironmentSecrets
from plait.app.run_files import RunFiles
from plait.app.run_records import RunCollector, RunOwner, RunRecorder
from plait.app.tasks import RunningTasks
from plait.engine.compile import CompiledGraph
from plait.engine.nodes.start import StartNode, validate_inputs
from plait.engine.runtime import RunLimits, WorkflowRun
from plait.engine.simple_app import workflow_from_model_config
from plait.engine.workflow import compile_workflow
from plait.errors import BadRequest, NotFound
from plait.events import RunEvent
from plait.ids import is_uuid, new_id
from plait.storage.broker import RunBroker, RunChannelInfo
from plait.storage.db import Database
from plait.storage.db.repos import apps as apps_repo
from plait.storage.db.tables import DRAFT_VERSION, App, AppVersion, EndUser
from plait.storage.db.tables import WorkflowRun as WorkflowRunRow

PUBLISHED_CACHE_SIZE = 256
SIMPLE_MODES = ("chat", "completion", "agent-chat")


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
    call_depth: int = 0  # how many workflows deep: a workflow called as a tool runs one deeper
    files: list[dict[str, Any]] = field(default_factory=list)


class WorkflowRuns:
    def __init__(
        self,
        db: Database,
        end_users: EndUsers,
        recorder: RunRecorder,
        services: EngineServices,
        limits: RunLimits,
        tasks: RunningTasks,
        *,
        files: RunFiles | None = None,
        secrets: EnvironmentSecrets | None = None,
        broker: RunBroker | None = None,
    ) -> None:
        self._db = db
        self.broker = broker
        self._files = files
        self._secrets = secrets
        self.tasks = tasks
        self._end_users = end_users
        self._recorder = recorder
        self._services = services
        self._limits = limits
        self._published: OrderedDict[str, tuple[AppVersion, CompiledGraph]] = OrderedDict()

    def _compile(self, app: App, version: AppVersion) -> CompiledGraph:
        if version.workflow is not None:
            workflow = version.workflow
            if self._secrets is not None:  # the run needs its secret environment values in clear
                workflow = self._secrets.opened(app.workspace_id, app.id, workflow) or workflow
            return compile_workflow(workflow, mode=app.mode)
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

    async def resolve_files(self, graph: CompiledGraph, inputs: Mapping[str, Any], end_user: EndUser) -> dict[str, Any]:
        """``inputs`` with the file objects of file inputs turned into the run's file values
        (uploads checked to belong to this end user)."""
        start = graph.nodes[graph.root]
        declared = start.config.variables if isinstance(start, StartNode) else []
        resolved = dict(inputs)
        for variable in declared:
            value = inputs.get(variable.variable)
            if variable.type not in ("file", "file-list") or value in (None, "", []):
                continue
            if self._files is None:
                raise BadRequest("This Plait cannot take files.")
            if variable.type == "file":
                resolved[variable.variable] = await self._files.resolve(end_user, value, name=variable.variable)
            else:
                resolved[variable.variable] = await self._files.resolve_all(end_user, value, name=variable.variable)
        return resolved

    async def system_files(self, files: list[Any] | None, end_user: EndUser) -> list[dict[str, Any]]:
        """The request's ``files`` (legacy vision attachments) as ``sys.files``."""
        if not files:
            return []
        if self._files is None:
            raise BadRequest("This Plait cannot take files.")
        return await self._files.resolve_all(end_user, files, name="files")

    async def end_user(self, app: App, user: str) -> EndUser:
        return await self._end_users.get_or_create(app.workspace_id, app.id, user)

    async def prepare(
        self,
        app: App,
        *,
        user: str,
        inputs: Mapping[str, Any],
        version_id: str | None = None,
        files: list[Any] | None = None,
    ) -> PreparedRun:
        if app.mode != "workflow":
            raise BadRequest("Please check if your app mode matches the right API route.", code="not_workflow_app")
        version, graph = await self.published(app, version_id)
        end_user = await self.end_user(app, user)
        checked = self.check_inputs(graph, await self.resolve_files(graph, inputs, end_user))
        prepared = PreparedRun(app, version, graph, checked, end_user)
        prepared.files = await self.system_files(files, end_user)
        return prepared

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
            "files": prepared.files,
        }
        run = WorkflowRun(
            prepared.graph,
            inputs=prepared.inputs,
            system=system,
            services=self._services.for_workspace(app.workspace_id),
            limits=self._limits,
            run_id=prepared.run_id,
            call_depth=prepared.call_depth,
        )
        channel = RunChannelInfo(
            prepared.run_id, prepared.task_id, app.id, prepared.end_user.session_id, version.id, int(time.time())
        )
        with self.tasks.running(prepared.task_id, run, app_id=app.id, user=prepared.end_user.session_id):
            async for event in self.broadcast(channel, run.events()):
                collector.observe(event)
                yield event
        if collector.record is not None:
            prepared.stored = self._recorder.record(collector.record)
        self.release(prepared.run_id, prepared.stored)

    async def broadcast(self, channel: RunChannelInfo, events: AsyncIterator[RunEvent]) -> AsyncIterator[RunEvent]:
        """``events``, also published on the run broker for requests that reconnect while
        the run goes on (``GET /v1/workflow/{run_id}/events``)."""
        broker = self.broker
        if broker is None:
            async for event in events:
                yield event
            return
        broker.open(channel)
        ended = False
        try:
            async for event in events:
                broker.publish(channel.run_id, event)
                yield event
            ended = True
        finally:
            if not ended:  # cut short: nothing will be recorded to wait for
                broker.close(channel.run_id)

    def release(self, run_id: str, stored: asyncio.Future[None] | None) -> None:
        """Close a run's channel once its record can be read, so that a reconnecting
        request finds the one or the other, never neither."""
        broker = self.broker
        if broker is None:
            return
        if stored is None or stored.done():
            broker.close(run_id)
        else:
            stored.add_done_callback(lambda _stored: broker.close(run_id))

    def live(self, app: App, run_id: str, user: str) -> RunChannelInfo | None:
        """The channel of a run of ``app`` going on in this process that ``user`` started."""
        info = self.broker.info(run_id) if self.broker is not None else None
        if info is None or info.app_id != app.id or info.user != user:
            return None
        return info

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
