"""Plait, measured in-process with the project's own interpreter.

Each workload's DSL dict is compiled once (``compile_workflow``); each run is a fresh
``WorkflowRun`` whose events are drained to the final ``WorkflowFinished``, as the API does.
Every run is also recorded as Plait records runs: a ``workflow_runs`` row and one
``node_executions`` row per node, written by the batching ``RunRecorder`` to the embedded
SQLite database; a measured block ends only when its records are stored.
Runs go on one event loop, uvloop when installed since ``plait serve`` runs on uvloop.
"""

from __future__ import annotations

import asyncio
import atexit
import tempfile
from collections.abc import Callable, Coroutine, Mapping
from importlib.metadata import version
from typing import Any

from peers.harness import Bench, Engine

from plait.app import bootstrap
from plait.app.audit import CLI
from plait.app.run_records import RunCollector, RunOwner, RunRecorder
from plait.engine.compile import CompiledGraph
from plait.engine.runtime import WorkflowRun
from plait.engine.services import Services
from plait.engine.workflow import compile_workflow
from plait.events import WorkflowFinished
from plait.settings import Settings

try:
    import uvloop

    new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    LOOP = "uvloop"
except ImportError:  # pragma: no cover - uvloop is a runtime dependency on Linux
    new_loop = asyncio.new_event_loop
    LOOP = "asyncio"


class _Recording:
    """An embedded Plait (SQLite in a temporary data directory) with an app to own the runs."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="plait-bench-")
        settings = Settings(PLAIT_DATA_DIR=self.directory.name, SECRET_KEY="bench-" + "x" * 40)  # type: ignore[call-arg]
        self.plait = loop.run_until_complete(bootstrap.start(settings))
        self.owner = loop.run_until_complete(self._owner())
        self.recorder = RunRecorder(self.plait.db)
        loop.run_until_complete(self._start())

    async def _start(self) -> None:
        self.recorder.start()

    async def _owner(self) -> RunOwner:
        setup = await self.plait.accounts.setup(
            email="bench@example.com", password="bench-passw0rd", name=None, workspace_name=None, actor=CLI
        )
        app = await self.plait.apps.create(setup.workspace_id, CLI, name="bench", mode="workflow")
        return RunOwner(
            setup.workspace_id, app.id, None, "draft", "bench", "account", created_by_account_id=setup.account_id
        )


async def _run(
    graph: CompiledGraph, inputs: dict[str, Any], services: Services, recording: _Recording
) -> dict[str, Any]:
    collector = RunCollector(recording.owner)
    last = None
    async for event in WorkflowRun(graph, inputs=inputs, services=services).events():
        collector.observe(event)
        last = event
    if not isinstance(last, WorkflowFinished) or last.status != "succeeded" or collector.record is None:
        raise RuntimeError(f"run did not succeed: {last}")
    recording.recorder.record(collector.record)
    return last.outputs


def _engine(workload: Mapping[str, Any], loop: asyncio.AbstractEventLoop, recording: _Recording) -> Engine:
    graph = compile_workflow({"graph": workload["graph"]}, mode="workflow")
    services = Services()
    inputs: list[dict[str, Any]] = workload["inputs"]
    state = {"next": 0}

    def drive(coroutine: Coroutine[Any, Any, Any]) -> Any:
        return loop.run_until_complete(coroutine)

    def run_one(run_inputs: dict[str, Any]) -> dict[str, Any]:
        return drive(_run(graph, run_inputs, services, recording))  # type: ignore[no-any-return]

    async def batch(count: int) -> None:
        index, size = state["next"], len(inputs)
        for offset in range(count):
            await _run(graph, inputs[(index + offset) % size], services, recording)
        await recording.recorder.flush()  # the block is done when its records are stored
        state["next"] = (index + count) % size

    return Engine(run_one, lambda count: drive(batch(count)))


def make_bench() -> Bench:
    """Plait's side of the harness protocol, in-process, on one long-lived event loop."""
    loop = new_loop()
    recording = _Recording(loop)
    atexit.register(lambda: loop.run_until_complete(recording.recorder.close()))
    label = f"{version('plait')} ({LOOP}, runs recorded to SQLite)"
    return Bench("plait", label, lambda workload: _engine(workload, loop, recording))
