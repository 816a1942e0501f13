"""The console's view of a workflow or chatflow app's runs: a page of runs (a ``last_id``
cursor, newest first), one run with the graph it ran and who started it, and every node
execution of a run, as recorded by ``run_records``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select

from plait.app.conversations import Page
from plait.errors import InvalidInput, NotFound
from plait.ids import is_uuid
from plait.storage.db import Database
from plait.storage.db.repos import apps as apps_repo
from plait.storage.db.tables import Account, App, EndUser, NodeExecution, WorkflowRun

RUN_MODES = ("workflow", "advanced-chat")
STATUSES = ("running", "succeeded", "failed", "stopped", "partial-succeeded")
MAX_LIMIT = 100


@dataclass(frozen=True)
class RunLog:
    run: WorkflowRun
    account: Account | None
    end_user: EndUser | None
    graph: dict[str, Any] | None = None


def require_mode(app: App, modes: tuple[str, ...]) -> None:
    """Dify's console answers a route of another app mode as if the app were missing."""
    if app.mode not in modes:
        raise NotFound(f"App mode is not in the supported list: {', '.join(modes)}.")


class RunLogs:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def page(
        self,
        app: App,
        *,
        last_id: str | None,
        limit: int,
        status: str | None = None,
        triggered_from: str | None = None,
    ) -> Page[RunLog]:
        require_mode(app, RUN_MODES)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", params="limit")
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", params="status")
        conditions: list[Any] = [WorkflowRun.app_id == app.id]
        if status:
            conditions.append(WorkflowRun.status == status)
        if triggered_from:
            conditions.append(WorkflowRun.triggered_from == triggered_from)
        async with self._db.reader() as session:
            if last_id:
                last = await session.get(WorkflowRun, last_id) if is_uuid(last_id) else None
                if last is None or last.app_id != app.id:
                    raise NotFound("Last workflow run not exists.")
                conditions.append(
                    or_(
                        WorkflowRun.created_at < last.created_at,
                        and_(WorkflowRun.created_at == last.created_at, WorkflowRun.id < last.id),
                    )
                )
            rows = await session.execute(
                select(WorkflowRun, Account, EndUser)
                .outerjoin(Account, Account.id == WorkflowRun.created_by_account_id)
                .outerjoin(EndUser, EndUser.id == WorkflowRun.created_by_end_user_id)
                .where(*conditions)
                .order_by(WorkflowRun.created_at.desc(), WorkflowRun.id.desc())
                .limit(limit + 1)
            )
            found = [RunLog(run, account, end_user) for run, account, end_user in rows.all()]
        return Page(found[:limit], len(found) > limit, limit)

    async def detail(self, app: App, run_id: str) -> RunLog:
        require_mode(app, RUN_MODES)
        async with self._db.reader() as session:
            found = None
            if is_uuid(run_id):
                found = (
                    await session.execute(
                        select(WorkflowRun, Account, EndUser)
                        .outerjoin(Account, Account.id == WorkflowRun.created_by_account_id)
                        .outerjoin(EndUser, EndUser.id == WorkflowRun.created_by_end_user_id)
                        .where(WorkflowRun.id == run_id, WorkflowRun.app_id == app.id)
                    )
                ).first()
            if found is None:
                raise NotFound("Workflow run not found.")
            run, account, end_user = found
            version = await apps_repo.version(session, run.app_version_id) if run.app_version_id else None
        graph = (version.workflow or {}).get("graph") if version is not None else None
        return RunLog(run, account, end_user, graph if isinstance(graph, dict) else None)

    async def node_executions(self, app: App, run_id: str) -> tuple[RunLog, list[NodeExecution]]:
        """The run and its node executions in the order they ran."""
        log = await self.detail(app, run_id)
        async with self._db.reader() as session:
            rows = await session.execute(
                select(NodeExecution)
                .where(NodeExecution.workflow_run_id == log.run.id)
                .order_by(NodeExecution.index, NodeExecution.created_at)
            )
            return log, list(rows.scalars())
