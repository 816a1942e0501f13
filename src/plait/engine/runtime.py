"""The runtime: runs a compiled graph on asyncio and yields typed events.

:class:`WorkflowRun` is one run: it sets up the variable pool, drives the top-level
:class:`~plait.engine.execution.Execution` as a task (so it can be stopped), applies the
run's time and call-depth limits and reports how the run ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from plait.engine.compile import CompiledGraph
from plait.engine.execution import Execution
from plait.engine.run_state import SECRET_MASK, RunFailed, RunLimits, RunState
from plait.engine.variables import CONVERSATION, VariablePool
from plait.events import RunEvent, RunFailure, WorkflowFinished, WorkflowStarted
from plait.ids import new_id

__all__ = ["SECRET_MASK", "RunFailed", "RunLimits", "WorkflowRun"]


class WorkflowRun:
    """One run of a compiled graph. Iterate :meth:`events`; call :meth:`stop` to stop it."""

    def __init__(
        self,
        graph: CompiledGraph,
        *,
        inputs: Mapping[str, Any],
        system: Mapping[str, Any] | None = None,
        conversation: Mapping[str, Any] | None = None,
        environment: Mapping[str, Any] | None = None,
        services: Any = None,
        limits: RunLimits | None = None,
        run_id: str | None = None,
        call_depth: int = 0,
    ) -> None:
        self.graph = graph
        self.call_depth = call_depth
        self.run_id = run_id or new_id()
        self.inputs = dict(inputs)
        self.pool = VariablePool(
            system={"workflow_run_id": self.run_id, **(system or {})},
            environment={**graph.environment, **(environment or {})},
            conversation={**graph.conversation_defaults, **(conversation or {})},
        )
        self.pool.set_outputs(graph.root, self.inputs)
        self.services = services
        self.limits = limits or RunLimits()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def conversation(self) -> dict[str, Any]:
        return self.pool.outputs(CONVERSATION)

    def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()

    async def events(self) -> AsyncIterator[RunEvent]:
        queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        run = RunState(self.run_id, self.graph.mode, self.services, self.limits, queue.put_nowait)
        environment = self.pool.outputs("env")
        run.secrets = tuple(
            str(environment[name]) for name in self.graph.secret_names if environment.get(name) not in (None, "")
        )
        started = time.perf_counter()
        execution = Execution(run, self.graph, self.pool)

        async def drive() -> None:
            status, error = "succeeded", None
            failure: RunFailure | None = None
            try:
                if self.call_depth > self.limits.max_call_depth:
                    raise RunFailed(
                        f"workflows call each other more than {self.limits.max_call_depth} levels deep",
                        "CallDepthExceeded",
                    )
                async with asyncio.timeout(self.limits.max_seconds):
                    await execution.execute()
            except RunFailed as stopped:
                status, error = "failed", str(stopped)
                cause = stopped.cause
                failure = RunFailure(
                    stopped.node_id,
                    str(getattr(cause, "message", None) or cause or stopped),
                    getattr(cause, "code", None),
                    getattr(cause, "status", None),
                )
            except TimeoutError:
                status, error = "failed", f"the run exceeded its time limit of {self.limits.max_seconds:g} seconds"
            except asyncio.CancelledError:
                status, error = "stopped", "stopped by the user"
            if status == "succeeded" and run.exceptions:
                status = "partial-succeeded"
            outputs = execution.outputs if self.graph.mode == "workflow" else {"answer": "".join(run.answer_parts)}
            queue.put_nowait(
                WorkflowFinished(
                    self.run_id,
                    status,  # type: ignore[arg-type]
                    outputs,
                    error,
                    run.steps,
                    run.exceptions,
                    time.perf_counter() - started,
                    run.total_tokens,
                    failure,
                )
            )
            queue.put_nowait(None)

        yield WorkflowStarted(self.run_id, self.inputs)
        self._task = asyncio.ensure_future(drive())
        if self._stopped:
            self._task.cancel()
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            if not self._task.done():
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
