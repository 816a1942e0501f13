"""Run records: every run and node execution is stored, in batches, on both databases."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.app.run_records import RunCollector, RunOwner, RunRecorder
from plait.engine.runtime import WorkflowRun
from plait.engine.services import Services
from plait.engine.workflow import compile_workflow
from plait.storage.db.tables import NodeExecution
from plait.storage.db.tables import WorkflowRun as WorkflowRunRow

GRAPH: dict[str, Any] = {
    "graph": {
        "nodes": [
            {"id": "start", "data": {"type": "start", "variables": [{"variable": "x", "type": "text-input"}]}},
            {
                "id": "t",
                "data": {
                    "type": "template-transform",
                    "template": "{{ x }}!",
                    "variables": [{"variable": "x", "value_selector": ["start", "x"]}],
                },
            },
            {"id": "end", "data": {"type": "end", "outputs": [{"variable": "out", "value_selector": ["t", "output"]}]}},
        ],
        "edges": [{"source": "start", "target": "t"}, {"source": "t", "target": "end"}],
    }
}


async def owner(plait: Plait) -> RunOwner:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await plait.apps.create(setup.workspace_id, CLI, name="Echo", mode="workflow")
    return RunOwner(
        setup.workspace_id, app.id, None, "draft", "debugging", "account", created_by_account_id=setup.account_id
    )


async def run_once(graph: Any, run_owner: RunOwner, recorder: RunRecorder, x: str) -> str:
    collector = RunCollector(run_owner)
    run = WorkflowRun(graph, inputs={"x": x}, services=Services())
    async for event in run.events():
        collector.observe(event)
    assert collector.record is not None
    recorder.record(collector.record)
    return run.run_id


async def test_a_run_and_its_nodes_are_recorded(plait: Plait) -> None:
    graph = compile_workflow(GRAPH, mode="workflow")
    recorder = RunRecorder(plait.db)
    recorder.start()
    run_id = await run_once(graph, await owner(plait), recorder, "hi")
    await recorder.close()
    async with plait.db.reader() as session:
        row = await session.get(WorkflowRunRow, run_id)
        nodes = (
            (
                await session.execute(
                    select(NodeExecution).where(NodeExecution.workflow_run_id == run_id).order_by(NodeExecution.index)
                )
            )
            .scalars()
            .all()
        )
    assert row is not None
    assert row.status == "succeeded"
    assert row.inputs == {"x": "hi"}
    assert row.outputs == {"out": "hi!"}
    assert row.total_steps == 3
    assert row.finished_at is not None
    assert row.finished_at >= row.created_at
    assert [(n.node_id, n.status, n.index) for n in nodes] == [
        ("start", "succeeded", 1),
        ("t", "succeeded", 2),
        ("end", "succeeded", 3),
    ]
    assert nodes[1].outputs == {"output": "hi!"}


async def test_many_runs_are_written_in_batches(plait: Plait) -> None:
    graph = compile_workflow(GRAPH, mode="workflow")
    recorder = RunRecorder(plait.db, max_batch=50)
    recorder.start()
    run_owner = await owner(plait)
    await asyncio.gather(*(run_once(graph, run_owner, recorder, str(i)) for i in range(120)))
    await recorder.close()
    async with plait.db.reader() as session:
        runs = (await session.execute(select(func.count()).select_from(WorkflowRunRow))).scalar_one()
        nodes = (await session.execute(select(func.count()).select_from(NodeExecution))).scalar_one()
    assert (runs, nodes) == (120, 360)


async def test_a_failed_batch_does_not_stop_recording(plait: Plait) -> None:
    graph = compile_workflow(GRAPH, mode="workflow")
    run_owner = await owner(plait)
    recorder = RunRecorder(plait.db, max_batch=1)
    recorder.start()
    broken = RunOwner(
        run_owner.workspace_id, "00000000-0000-7000-8000-000000000000", None, "draft", "debugging", "account"
    )
    await run_once(graph, broken, recorder, "lost")  # no such app: the foreign key refuses it
    await recorder.flush()
    kept = await run_once(graph, run_owner, recorder, "kept")
    await recorder.close()
    async with plait.db.reader() as session:
        assert await session.get(WorkflowRunRow, kept) is not None
        assert (await session.execute(select(func.count()).select_from(WorkflowRunRow))).scalar_one() == 1
