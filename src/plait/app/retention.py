"""Retention of run logs: finished workflow runs older than the retention period are deleted
with their node executions, a small batch per transaction.

Dify users report clean-ups that hold a table for minutes on tens of millions of rows; here
no statement touches more than ``batch_size`` rows, each batch commits on its own, and the
loop yields between batches, so other writers (SQLite's single writer among them) get the
database in between, however large the backlog.

What is pruned, and why only that:

- ``workflow_runs`` that have finished (``finished_at`` before the cutoff, chosen through
  its index) and are not ``running`` or ``paused``: a run that can still move is never
  deleted, whatever its age.
- their ``node_executions``, deleted first and explicitly, in batches of their own (a run
  with a large iteration can have thousands), rather than by one cascading delete.

Conversations, messages, feedback and annotations are the users' history and stay. A
message keeps its ``workflow_run_id`` (a plain column, no foreign key), which may then name
a pruned run; reading that run answers "not found", as for any unknown run. A prune that
stops half-way (a crash, a cancelled task) leaves only runs with fewer node executions, and
the next prune finishes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, delete, func, select

from plait.storage.db import Database
from plait.storage.db.tables import NodeExecution, WorkflowRun
from plait.storage.db.types import utcnow

log = structlog.get_logger(__name__)

# Runs in these states can still change; retention never deletes them.
UNFINISHED = ("running", "paused")


@dataclass(frozen=True)
class PruneResult:
    """What one prune deleted (or, with ``dry_run``, would delete)."""

    cutoff: datetime
    runs: int = 0
    node_executions: int = 0
    # Delete transactions committed; for a dry run, the run batches a prune would take.
    batches: int = 0
    dry_run: bool = False


AfterBatch = Callable[[PruneResult], Awaitable[None]]


class RunRetention:
    """Prunes old run logs on demand (``prune``) and, when a period is set, periodically
    (``start``/``close``) in the serving process."""

    def __init__(
        self,
        db: Database,
        *,
        days: int,
        batch_size: int = 1000,
        interval_seconds: float = 3600.0,
        pause_seconds: float = 0.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._db = db
        self.days = days
        self.batch_size = batch_size
        self.interval_seconds = interval_seconds
        self._pause = pause_seconds
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.days > 0

    def cutoff(self, days: int, *, now: datetime | None = None) -> datetime:
        return (now or utcnow()) - timedelta(days=days)

    async def prune(
        self,
        *,
        older_than_days: int | None = None,
        dry_run: bool = False,
        now: datetime | None = None,
        after_batch: AfterBatch | None = None,
    ) -> PruneResult:
        """Delete the runs that finished more than ``older_than_days`` (default: the
        configured period) ago, with their node executions; ``after_batch`` is awaited after
        every committed batch with the totals so far."""
        days = self.days if older_than_days is None else older_than_days
        if days < 1:
            raise ValueError("the retention period must be at least one day")
        cutoff = self.cutoff(days, now=now)
        if dry_run:
            return await self._count(cutoff)
        result = PruneResult(cutoff=cutoff)
        while run_ids := await self._next_runs(cutoff):
            result = await self._delete_runs(run_ids, cutoff, result, after_batch)
        if result.runs:
            log.info("retention.pruned", runs=result.runs, node_executions=result.node_executions, cutoff=cutoff)
        return result

    def _expired(self, cutoff: datetime) -> list[ColumnElement[bool]]:
        return [WorkflowRun.finished_at < cutoff, WorkflowRun.status.not_in(UNFINISHED)]

    async def _count(self, cutoff: datetime) -> PruneResult:
        async with self._db.reader() as session:
            runs = int(await session.scalar(select(func.count()).where(*self._expired(cutoff))) or 0)
            expired = select(WorkflowRun.id).where(*self._expired(cutoff))
            nodes = int(
                await session.scalar(
                    select(func.count()).select_from(NodeExecution).where(NodeExecution.workflow_run_id.in_(expired))
                )
                or 0
            )
        return PruneResult(
            cutoff=cutoff, runs=runs, node_executions=nodes, batches=math.ceil(runs / self.batch_size), dry_run=True
        )

    async def _next_runs(self, cutoff: datetime) -> list[str]:
        async with self._db.reader() as session:
            found = await session.scalars(
                select(WorkflowRun.id)
                .where(*self._expired(cutoff))
                .order_by(WorkflowRun.finished_at)
                .limit(self.batch_size)
            )
            return list(found)

    async def _delete_runs(
        self, run_ids: list[str], cutoff: datetime, result: PruneResult, after_batch: AfterBatch | None
    ) -> PruneResult:
        # Children first, at most batch_size of them per transaction.
        while True:
            async with self._db.transaction() as session:
                node_ids = list(
                    await session.scalars(
                        select(NodeExecution.id)
                        .where(NodeExecution.workflow_run_id.in_(run_ids))
                        .limit(self.batch_size)
                    )
                )
                if not node_ids:
                    break
                await session.execute(delete(NodeExecution).where(NodeExecution.id.in_(node_ids)))
            result = replace(result, node_executions=result.node_executions + len(node_ids), batches=result.batches + 1)
            await self._between_batches(result, after_batch)
        async with self._db.transaction() as session:
            # The conditions again: a run resumed since it was selected is left alone.
            deleted = await session.execute(
                delete(WorkflowRun)
                .where(WorkflowRun.id.in_(run_ids), *self._expired(cutoff))
                .execution_options(synchronize_session=False)
            )
        result = replace(
            result, runs=result.runs + int(getattr(deleted, "rowcount", 0) or 0), batches=result.batches + 1
        )
        await self._between_batches(result, after_batch)
        return result

    async def _between_batches(self, result: PruneResult, after_batch: AfterBatch | None) -> None:
        if after_batch is not None:
            await after_batch(result)
        await asyncio.sleep(self._pause)  # let other writers in, even with no pause configured

    def start(self) -> None:
        """Prune now and then every ``interval_seconds``, in the background; nothing when no
        period is set."""
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._prune_forever(), name="run-retention")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _prune_forever(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception:  # a failed prune (the database away) is retried next time
                log.exception("retention.prune_failed")
            await asyncio.sleep(self.interval_seconds)
