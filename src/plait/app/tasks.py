"""Runs in progress in this process, by task id, so that a stop request can reach them.

(Across API replicas, stop requests will travel through the run broker.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from plait.engine.runtime import WorkflowRun


@dataclass(frozen=True)
class RunningTask:
    run: WorkflowRun
    app_id: str
    user: str


class RunningTasks:
    def __init__(self) -> None:
        self._tasks: dict[str, RunningTask] = {}

    @contextmanager
    def running(self, task_id: str, run: WorkflowRun, *, app_id: str, user: str) -> Iterator[None]:
        self._tasks[task_id] = RunningTask(run, app_id, user)
        try:
            yield
        finally:
            self._tasks.pop(task_id, None)

    def stop(self, task_id: str, *, app_id: str, user: str | None = None) -> bool:
        """Stop the task if it runs here for this app (and, when given, this user). As in
        Dify, a request that matches nothing is not an error."""
        task = self._tasks.get(task_id)
        if task is None or task.app_id != app_id or (user is not None and task.user != user):
            return False
        task.run.stop()
        return True

    def ids(self) -> list[str]:
        return list(self._tasks)
