"""Workflows as tools: a published workflow app of the same workspace, called by a tool node
or an agent.

The tool's parameters are the app's start variables, their types mapped to JSON Schema.
Calling it runs the app's published version through :class:`~plait.app.workflow_runs.WorkflowRuns`,
so the run is checked, recorded and stoppable like any other (started by the end user
:data:`WORKFLOW_TOOL_USER` of that app); its outputs become the tool's ``json`` and, as
JSON, its ``text``.

A run started by a tool is one level deeper than the run that called it. The depth travels
with the asyncio context (:class:`WorkflowCall`), so the engine's ``RunLimits.max_call_depth``
ends a workflow that calls itself with an error instead of a loop; that error reaches the
first caller once, not wrapped again at every level it passed through.

A tool node names one with ``provider_type: workflow`` and, as ``provider_id``, the id of
its registration, the app's id, or the registered name. An app needs no registration to
be called; registering it (the console's ``tool-provider/workflow/create``) gives it a
name, a label and descriptions of its parameters for the models that call it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from plait.app.audit import Actor, record
from plait.app.workflow_runs import PreparedRun, WorkflowRuns
from plait.engine.nodes.start import StartNode, StartVariable
from plait.errors import Conflict, InvalidInput, PlaitError
from plait.events import WorkflowFinished
from plait.ids import is_uuid
from plait.storage.db import Database
from plait.storage.db.tables import App, WorkflowToolProvider
from plait.tools import Tool, ToolArgumentError, ToolCallFailed, ToolNotFound, ToolOutput

WORKFLOW_TOOL_USER = "workflow-tool"
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
PARAMETER_FORMS = ("llm", "form")


@dataclass
class WorkflowCall:
    """One workflow called as a tool, in the context of the run it starts."""

    depth: int
    caller: WorkflowCall | None
    # Why a workflow this one called failed, as it first failed (set by that call).
    failure: str | None = None


CURRENT_CALL: ContextVar[WorkflowCall | None] = ContextVar("plait_workflow_call", default=None)


@dataclass(frozen=True)
class WorkflowToolForm:
    """Dify's ``tool-provider/workflow/create`` body, less the app id."""

    name: str
    label: str = ""
    description: str = ""
    parameters: Sequence[Mapping[str, Any]] = ()  # [{name, description, form: llm|form}]
    icon: Any = None
    privacy_policy: str = ""
    labels: Sequence[str] = field(default_factory=tuple)


def variable_schema(variable: StartVariable, description: str = "") -> dict[str, Any]:
    """A start variable as a JSON Schema property."""
    kinds: dict[str, dict[str, Any]] = {
        "number": {"type": "number"},
        "checkbox": {"type": "boolean"},
        "json_object": {"type": "object"},
        "file": {"type": "object", "description": "a file object"},
        "file-list": {"type": "array", "items": {"type": "object"}, "description": "a list of file objects"},
    }
    schema = dict(kinds.get(variable.type, {"type": "string"}))
    if variable.type == "select" and variable.options:
        schema["enum"] = [str(option) for option in variable.options]
    if variable.type in ("text-input", "paragraph") and variable.max_length:
        schema["maxLength"] = variable.max_length
    text = description or variable.label or ""
    if text:
        schema["description"] = text
    return schema


def parameters_schema(variables: Sequence[StartVariable], descriptions: Mapping[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {v.variable: variable_schema(v, descriptions.get(v.variable, "")) for v in variables},
        "required": [v.variable for v in variables if v.required],
    }


class WorkflowTool(Tool):
    def __init__(
        self, tools: WorkflowTools, app: App, name: str, label: str, description: str, parameters: dict[str, Any]
    ) -> None:
        super().__init__(name, description, parameters, label=label)
        self.app = app
        self._tools = tools

    async def run(self, arguments: dict[str, Any]) -> ToolOutput:
        return await self._tools.run(self.app, self.name, arguments)


class WorkflowTools:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Set by the composition root: the run path needs the tools, and these tools need it.
        self.runs: WorkflowRuns | None = None

    # -- registrations -----------------------------------------------------------------
    async def create(
        self, workspace_id: str, actor: Actor, app_id: str, form: WorkflowToolForm
    ) -> WorkflowToolProvider:
        app = await self._app(workspace_id, app_id)
        row = WorkflowToolProvider(workspace_id=workspace_id, app_id=app.id, created_by=actor.account_id)
        return await self._save(workspace_id, actor, app, row, form, "workflow_tool.create")

    async def update(
        self, workspace_id: str, actor: Actor, tool_id: str, form: WorkflowToolForm
    ) -> WorkflowToolProvider:
        row = await self.registration(workspace_id, tool_id=tool_id)
        app = await self._app(workspace_id, row.app_id)
        return await self._save(workspace_id, actor, app, row, form, "workflow_tool.update")

    async def _save(
        self,
        workspace_id: str,
        actor: Actor,
        app: App,
        row: WorkflowToolProvider,
        form: WorkflowToolForm,
        action: str,
    ) -> WorkflowToolProvider:
        if not TOOL_NAME.match(form.name):
            raise InvalidInput("The tool name must be 1 to 64 letters, digits, '_' or '-'.", params="name")
        variables = {variable.variable for variable in await self._variables(app)}
        parameters = []
        for index, parameter in enumerate(form.parameters):
            name = str(parameter.get("name") or "")
            if name not in variables:
                raise InvalidInput(f"{name!r} is not an input of the workflow", params=f"parameters[{index}].name")
            form_kind = str(parameter.get("form") or "llm")
            if form_kind not in PARAMETER_FORMS:
                raise InvalidInput("form must be llm or form", params=f"parameters[{index}].form")
            parameters.append({"name": name, "description": str(parameter.get("description") or ""), "form": form_kind})
        row.name, row.label = form.name, (form.label or form.name)[:255]
        row.description = form.description
        row.config = {
            "icon": form.icon,
            "parameters": parameters,
            "privacy_policy": form.privacy_policy,
            "labels": [str(label) for label in form.labels],
        }
        try:
            async with self._db.transaction() as session:
                row = await session.merge(row)
                record(
                    session,
                    actor,
                    action,
                    workspace_id=workspace_id,
                    target_type="workflow_tool",
                    target_id=row.id,
                    detail={"name": row.name, "app_id": app.id},
                )
                await session.flush()
        except IntegrityError:
            raise Conflict(f"A workflow tool named {form.name!r}, or one for this app, already exists.") from None
        return row

    async def delete(self, workspace_id: str, actor: Actor, tool_id: str) -> None:
        row = await self.registration(workspace_id, tool_id=tool_id)
        async with self._db.transaction() as session:
            stored = await session.get(WorkflowToolProvider, row.id)
            if stored is not None:
                await session.delete(stored)
            record(
                session,
                actor,
                "workflow_tool.delete",
                workspace_id=workspace_id,
                target_type="workflow_tool",
                target_id=row.id,
                detail={"name": row.name, "app_id": row.app_id},
            )

    async def registration(
        self, workspace_id: str, *, tool_id: str | None = None, app_id: str | None = None
    ) -> WorkflowToolProvider:
        key, column = (tool_id, WorkflowToolProvider.id) if tool_id else (app_id, WorkflowToolProvider.app_id)
        if key and is_uuid(key):
            async with self._db.reader() as session:
                row = (
                    await session.execute(
                        select(WorkflowToolProvider).where(
                            WorkflowToolProvider.workspace_id == workspace_id, column == key
                        )
                    )
                ).scalar_one_or_none()
            if row is not None:
                return row
        raise ToolNotFound(f"this workspace has no workflow tool {key or ''!r}")

    async def listed(self, workspace_id: str) -> list[WorkflowToolProvider]:
        async with self._db.reader() as session:
            query = (
                select(WorkflowToolProvider)
                .where(WorkflowToolProvider.workspace_id == workspace_id)
                .order_by(WorkflowToolProvider.name)
            )
            return list((await session.execute(query)).scalars())

    # -- calling -----------------------------------------------------------------------
    async def tool(self, workspace_id: str, *keys: str) -> WorkflowTool:
        """The tool that the first matching key names: a registration's id or name, or an app id."""
        for key in (key.strip() for key in keys if key and key.strip()):
            registration, app = await self._lookup(workspace_id, key)
            if app is not None:
                return await self.tool_of(app, registration)
        raise ToolNotFound(f"this workspace has no workflow tool {next((k for k in keys if k), '')!r}")

    async def tool_of(self, app: App, registration: WorkflowToolProvider | None) -> WorkflowTool:
        variables = await self._variables(app)
        config = registration.config if registration is not None else {}
        descriptions = {str(p.get("name")): str(p.get("description") or "") for p in config.get("parameters") or []}
        name = registration.name if registration is not None else tool_name(app.name)
        label = registration.label if registration is not None else app.name
        description = (registration.description if registration is not None else "") or app.description or app.name
        return WorkflowTool(self, app, name, label, description, parameters_schema(variables, descriptions))

    async def _lookup(self, workspace_id: str, key: str) -> tuple[WorkflowToolProvider | None, App | None]:
        async with self._db.reader() as session:
            matches = [WorkflowToolProvider.name == key]
            if is_uuid(key):
                matches += [WorkflowToolProvider.id == key, WorkflowToolProvider.app_id == key]
            registration = (
                await session.execute(
                    select(WorkflowToolProvider)
                    .where(WorkflowToolProvider.workspace_id == workspace_id, or_(*matches))
                    .limit(1)
                )
            ).scalar_one_or_none()
            app_id = registration.app_id if registration is not None else key if is_uuid(key) else None
            app = await session.get(App, app_id) if app_id else None
        if app is None or app.workspace_id != workspace_id or app.mode != "workflow":
            return None, None
        return registration, app

    async def run(self, app: App, name: str, arguments: Mapping[str, Any]) -> ToolOutput:
        runs = self._runs()
        try:
            prepared = await runs.prepare(app, user=WORKFLOW_TOOL_USER, inputs=arguments)
        except InvalidInput as error:
            raise ToolArgumentError(f"tool {name!r}: {error.message}", parameter=error.params) from None
        except PlaitError as error:
            raise ToolCallFailed(f"the workflow {name!r} cannot run: {error.message}") from None
        caller = CURRENT_CALL.get()
        call = WorkflowCall((caller.depth if caller is not None else 0) + 1, caller)
        prepared.call_depth = call.depth
        # In a task of its own, so that only the child run sees itself one level deeper.
        finished = await asyncio.create_task(_finish(runs, prepared, call))
        if finished is None or finished.status not in ("succeeded", "partial-succeeded"):
            reason = finished.error if finished is not None and finished.error else "it did not finish"
            if call.failure is not None and call.failure in reason:
                reason = call.failure  # it failed because a workflow it called failed: say why once
            if caller is not None:
                caller.failure = reason
            raise ToolCallFailed(f"the workflow {name!r} failed: {reason}")
        outputs = dict(finished.outputs or {})
        return ToolOutput(text=json.dumps(outputs, ensure_ascii=False, default=str), json=[outputs])

    def _runs(self) -> WorkflowRuns:
        if self.runs is None:
            raise ToolCallFailed("workflows cannot be called as tools here")
        return self.runs

    async def _app(self, workspace_id: str, app_id: str) -> App:
        app = None
        if is_uuid(app_id):
            async with self._db.reader() as session:
                app = await session.get(App, app_id)
        if app is None or app.workspace_id != workspace_id:
            raise ToolNotFound(f"this workspace has no app {app_id!r}")
        if app.mode != "workflow":
            raise InvalidInput("Only workflow apps can be tools.", params="workflow_app_id")
        return app

    async def _variables(self, app: App) -> list[StartVariable]:
        try:
            _, graph = await self._runs().published(app)
        except PlaitError as error:
            raise ToolNotFound(f"the workflow {app.name!r} has no published version to call: {error.message}") from None
        start = graph.nodes[graph.root]
        return list(start.config.variables) if isinstance(start, StartNode) else []


def tool_name(name: str) -> str:
    """An app's name as a tool name: ``[a-zA-Z0-9_-]``, at most 64 characters."""
    return re.sub(r"[^a-zA-Z0-9_-]+", "_", name).strip("_")[:64] or "workflow"


async def _finish(runs: WorkflowRuns, prepared: PreparedRun, call: WorkflowCall) -> WorkflowFinished | None:
    CURRENT_CALL.set(call)
    finished = None
    async for event in runs.execute(prepared):
        if isinstance(event, WorkflowFinished):
            finished = event
    return finished
