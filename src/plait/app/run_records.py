"""Run records: the ``workflow_runs`` row and one ``node_executions`` row per node of every run,
written off the hot path.

A :class:`RunCollector` watches one run's events and turns them into a :class:`RunRecord`;
the :class:`RunRecorder` queues records and a single writer task stores them in batches,
many runs per transaction with bulk inserts, so recording costs a run a list append instead
of a database round-trip per event.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import insert

from plait.events import NodeFinished, RunEvent, WorkflowFinished, WorkflowStarted
from plait.ids import new_id
from plait.storage.db import Database
from plait.storage.db.tables import NodeExecution, WorkflowRun
from plait.storage.db.types import utcnow

log = structlog.get_logger(__name__)


@dataclass
class RunRecord:
    run: dict[str, Any]
    nodes: list[dict[str, Any]] = field(default_factory=list)
    stored: asyncio.Future[None] | None = None


@dataclass
class RunOwner:
    """Whose run it is: the app, its version and who started it."""

    workspace_id: str
    app_id: str
    app_version_id: str | None
    version: str
    triggered_from: str
    created_by_role: str
    created_by_end_user_id: str | None = None
    created_by_account_id: str | None = None
    conversation_id: str | None = None


class RunCollector:
    """Builds the record of one run from its events."""

    def __init__(self, owner: RunOwner) -> None:
        self._owner = owner
        self._started_at = utcnow()
        self._inputs: dict[str, Any] = {}
        self._nodes: list[dict[str, Any]] = []
        self._run_id = ""
        self.record: RunRecord | None = None

    def observe(self, event: RunEvent) -> None:
        if isinstance(event, NodeFinished):
            finished_at = utcnow()
            self._nodes.append(
                {
                    "id": event.execution_id or new_id(),
                    "workspace_id": self._owner.workspace_id,
                    "app_id": self._owner.app_id,
                    "workflow_run_id": self._run_id,
                    "node_id": event.node_id,
                    "node_type": event.node_type,
                    "title": event.title,
                    "index": event.index,
                    "predecessor_node_id": event.predecessor_node_id,
                    "inputs": event.inputs,
                    "process_data": event.process_data,
                    "outputs": event.outputs,
                    "status": event.status,
                    "error": event.error,
                    "elapsed_time": event.elapsed_time,
                    "execution_metadata": event.metadata,
                    "created_at": finished_at - timedelta(seconds=event.elapsed_time),
                    "finished_at": finished_at,
                }
            )
        elif isinstance(event, WorkflowStarted):
            self._run_id = event.run_id
            self._inputs = event.inputs
        elif isinstance(event, WorkflowFinished):
            self.record = RunRecord(self._run_row(event, utcnow()), self._nodes)

    def _run_row(self, event: WorkflowFinished, finished_at: datetime) -> dict[str, Any]:
        owner = self._owner
        return {
            "id": event.run_id,
            "workspace_id": owner.workspace_id,
            "app_id": owner.app_id,
            "app_version_id": owner.app_version_id,
            "version": owner.version,
            "triggered_from": owner.triggered_from,
            "status": event.status,
            "inputs": self._inputs,
            "outputs": event.outputs,
            "error": event.error,
            "elapsed_time": event.elapsed_time,
            "total_tokens": event.total_tokens,
            "total_steps": event.total_steps,
            "exceptions_count": event.exceptions_count,
            "created_by_role": owner.created_by_role,
            "created_by_end_user_id": owner.created_by_end_user_id,
            "created_by_account_id": owner.created_by_account_id,
            "conversation_id": owner.conversation_id,
            "created_at": self._started_at,
            "finished_at": finished_at,
        }


class RunRecorder:
    """Queues finished runs and writes them in batches from one background task."""

    def __init__(self, db: Database, *, max_batch: int = 500, max_delay: float = 0.0) -> None:
        self._db = db
        self._max_batch = max_batch
        # Group commit without a window by default: the writer takes what is queued, and the
        # runs that finish while it writes make the next batch. Under load batches grow by
        # themselves (a commit per batch, not per run); when idle a record is written at once,
        # so a blocking reply, which waits for its record, is not held for a window. A
        # positive delay waits that long for more runs before each write.
        self._max_delay = max_delay
        self._queue: asyncio.Queue[RunRecord] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write_forever())

    def record(self, record: RunRecord) -> asyncio.Future[None]:
        """Queue ``record``; the future resolves once it is stored (or fails with why not)."""
        record.stored = asyncio.get_running_loop().create_future()
        # Streaming callers never wait for it; the writer has logged any failure already.
        record.stored.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._queue.put_nowait(record)
        return record.stored

    async def flush(self) -> None:
        """Wait until everything queued so far is stored."""
        await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._queue.qsize() < self._max_batch:
                # Even without a window, one turn of the loop lets runs that finish together join.
                await asyncio.sleep(self._max_delay)
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception as error:  # a failed batch is logged, never allowed to stop recording
                log.exception("run_records.write_failed", runs=len(batch))
                for record in batch:
                    if record.stored is not None and not record.stored.done():
                        record.stored.set_exception(error)
            else:
                for record in batch:
                    if record.stored is not None and not record.stored.done():
                        record.stored.set_result(None)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[RunRecord]) -> None:
        nodes = [node for record in batch for node in record.nodes]
        async with self._db.connection() as connection:
            await connection.execute(insert(WorkflowRun), [record.run for record in batch])
            if nodes:
                await connection.execute(insert(NodeExecution), nodes)
