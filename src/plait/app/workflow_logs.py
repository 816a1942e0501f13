"""The run log of a workflow app, page by page, newest first, with Dify's filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import String, cast, func, or_, select

from plait.errors import InvalidInput
from plait.storage.db import Database
from plait.storage.db.tables import App, EndUser, WorkflowRun

STATUSES = ("succeeded", "failed", "stopped", "partial-succeeded", "running")


@dataclass(frozen=True)
class LogPage:
    runs: list[tuple[WorkflowRun, EndUser | None]]
    total: int
    page: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total


def _utc(moment: datetime) -> datetime:
    """A bound without a time zone is read as UTC (Dify's filters are ISO-8601 in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class WorkflowLogs:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def page(
        self,
        app: App,
        *,
        page: int,
        limit: int,
        status: str | None = None,
        keyword: str | None = None,
        created_before: datetime | None = None,
        created_after: datetime | None = None,
    ) -> LogPage:
        # Dify caps page at 99999; an unbounded one overflows the database's integers.
        if not 1 <= page <= 99_999 or not 1 <= limit <= 100:
            raise InvalidInput("page must be between 1 and 99999 and limit between 1 and 100", params="limit")
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", params="status")
        conditions = [WorkflowRun.app_id == app.id]
        if status:
            conditions.append(WorkflowRun.status == status)
        if keyword:
            pattern = f"%{keyword}%"
            conditions.append(
                or_(cast(WorkflowRun.inputs, String).like(pattern), cast(WorkflowRun.outputs, String).like(pattern))
            )
        if created_before:
            conditions.append(WorkflowRun.created_at < _utc(created_before))
        if created_after:
            conditions.append(WorkflowRun.created_at > _utc(created_after))
        async with self._db.reader() as session:
            total = (
                await session.execute(select(func.count()).select_from(WorkflowRun).where(*conditions))
            ).scalar_one()
            rows = await session.execute(
                select(WorkflowRun, EndUser)
                .outerjoin(EndUser, EndUser.id == WorkflowRun.created_by_end_user_id)
                .where(*conditions)
                .order_by(WorkflowRun.created_at.desc(), WorkflowRun.id.desc())
                .offset((page - 1) * limit)
                .limit(limit)
            )
            runs: list[tuple[WorkflowRun, EndUser | None]] = [(run, end_user) for run, end_user in rows.all()]
        return LogPage(runs, int(total), page, limit)
