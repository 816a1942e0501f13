"""Run log retention: old finished runs and their node executions are deleted in small
committed batches, on both databases; running, paused and recent runs, conversations and
messages stay; other writers get the database between batches; the CLI prints the counts
and the serving process prunes on its own when a period is set."""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from plait.app import bootstrap
from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.app.retention import PruneResult, RunRetention
from plait.errors import ConfigurationError
from plait.ids import new_id
from plait.settings import Settings, load_settings
from plait.storage.db.tables import Conversation, Message, NodeExecution, WorkflowRun
from plait.storage.db.types import utcnow

from .conftest import OWNER_EMAIL, OWNER_PASSWORD, StartPlait, plait_command

NODES_PER_RUN = 2
OLD_FINISHED = 23
FINISHED_STATUSES = ("succeeded", "failed", "stopped", "partial-succeeded")


@dataclass
class Seeded:
    workspace_id: str
    app_id: str
    expired: set[str] = field(default_factory=set)
    kept: set[str] = field(default_factory=set)
    message_id: str = ""
    conversation_id: str = ""


def _run(seeded: Seeded, *, status: str, created_at: datetime, finished_at: datetime | None) -> WorkflowRun:
    return WorkflowRun(
        id=new_id(),
        workspace_id=seeded.workspace_id,
        app_id=seeded.app_id,
        version="draft",
        triggered_from="debugging",
        status=status,
        created_by_role="account",
        created_at=created_at,
        finished_at=finished_at,
    )


def _nodes(run: WorkflowRun) -> list[NodeExecution]:
    return [
        NodeExecution(
            workspace_id=run.workspace_id,
            app_id=run.app_id,
            workflow_run_id=run.id,
            node_id=f"n{index}",
            node_type="code",
            index=index,
            status="running" if run.status == "running" else "succeeded",
            created_at=run.created_at,
            finished_at=run.finished_at,
        )
        for index in range(1, NODES_PER_RUN + 1)
    ]


async def seed(plait: Plait) -> Seeded:
    """OLD_FINISHED runs finished 40 days ago (to be pruned); runs finished yesterday, runs
    still running or paused since 40 days ago, and a chat message pointing at an old run (kept)."""
    setup = await plait.accounts.setup(
        email=OWNER_EMAIL, password=OWNER_PASSWORD, name=None, workspace_name=None, actor=CLI
    )
    app = await plait.apps.create(setup.workspace_id, CLI, name="Flow", mode="advanced-chat")
    seeded = Seeded(setup.workspace_id, app.id)
    now = utcnow()
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    runs: list[WorkflowRun] = []
    for index in range(OLD_FINISHED):
        finished = old + timedelta(minutes=index)
        runs.append(_run(seeded, status=FINISHED_STATUSES[index % 4], created_at=finished, finished_at=finished))
        seeded.expired.add(runs[-1].id)
    kept = [_run(seeded, status="succeeded", created_at=recent, finished_at=recent) for _ in range(4)]
    kept += [_run(seeded, status="running", created_at=old, finished_at=None) for _ in range(3)]
    # A paused run may be resumed, whatever its age, even one that recorded an end time.
    kept.append(_run(seeded, status="paused", created_at=old, finished_at=old))
    seeded.kept = {run.id for run in kept}
    runs += kept
    conversation = Conversation(
        workspace_id=seeded.workspace_id, app_id=seeded.app_id, mode="advanced-chat", from_source="api"
    )
    async with plait.db.transaction() as session:
        session.add_all(runs)
        session.add(conversation)
        await session.flush()
        session.add_all([node for run in runs for node in _nodes(run)])
        message = Message(
            workspace_id=seeded.workspace_id,
            app_id=seeded.app_id,
            conversation_id=conversation.id,
            query="hello",
            answer="hi",
            from_source="api",
            workflow_run_id=runs[0].id,
        )
        session.add(message)
        await session.flush()
        seeded.message_id, seeded.conversation_id = message.id, conversation.id
    return seeded


async def run_ids(plait: Plait) -> set[str]:
    async with plait.db.reader() as session:
        return set(await session.scalars(select(WorkflowRun.id)))


async def node_counts(plait: Plait) -> dict[str, int]:
    async with plait.db.reader() as session:
        rows = await session.execute(
            select(NodeExecution.workflow_run_id, func.count()).group_by(NodeExecution.workflow_run_id)
        )
        return {run_id: int(count) for run_id, count in rows.all()}


async def test_prune_deletes_exactly_the_old_finished_runs_in_batches(plait: Plait) -> None:
    seeded = await seed(plait)
    retention = RunRetention(plait.db, days=30, batch_size=5)
    progress: list[PruneResult] = []

    async def after_batch(result: PruneResult) -> None:
        progress.append(result)

    result = await retention.prune(after_batch=after_batch)

    assert (result.runs, result.node_executions, result.dry_run) == (OLD_FINISHED, OLD_FINISHED * NODES_PER_RUN, False)
    assert await run_ids(plait) == seeded.kept
    assert await node_counts(plait) == dict.fromkeys(seeded.kept, NODES_PER_RUN)
    # 23 runs in batches of 5 (5,5,5,5,3); each batch's 10 (or 6) node executions in two
    # transactions of at most 5, then one for its runs.
    assert result.batches == len(progress) == 4 * 3 + 3
    previous = PruneResult(cutoff=result.cutoff)
    for step in progress:
        runs, nodes = step.runs - previous.runs, step.node_executions - previous.node_executions
        assert (runs == 0) != (nodes == 0), "a batch deletes either node executions or runs"
        assert 0 < runs + nodes <= 5
        previous = step
    assert progress[-1] == result
    async with plait.db.reader() as session:
        message = await session.get(Message, seeded.message_id)
        conversation = await session.get(Conversation, seeded.conversation_id)
    assert conversation is not None
    assert message is not None
    assert message.answer == "hi"
    assert message.workflow_run_id in seeded.expired  # kept as it was; the run is gone

    again = await retention.prune()
    assert (again.runs, again.node_executions, again.batches) == (0, 0, 0)


async def test_dry_run_counts_and_deletes_nothing(plait: Plait) -> None:
    seeded = await seed(plait)
    retention = RunRetention(plait.db, days=90, batch_size=5)

    result = await retention.prune(older_than_days=30, dry_run=True)

    assert result.dry_run
    assert (result.runs, result.node_executions, result.batches) == (OLD_FINISHED, OLD_FINISHED * NODES_PER_RUN, 5)
    assert await run_ids(plait) == seeded.expired | seeded.kept
    assert sum((await node_counts(plait)).values()) == (OLD_FINISHED + len(seeded.kept)) * NODES_PER_RUN
    # The configured period applies when none is given: nothing is 90 days old.
    assert (await retention.prune(dry_run=True)).runs == 0


async def test_other_writers_get_the_database_between_batches(plait: Plait) -> None:
    """Between every two batches another task commits a write, and a fresh reader already
    sees every earlier batch's deletes: each batch is its own short transaction, never one
    that holds the database (SQLite's single writer connection included) for the whole prune."""
    seeded = await seed(plait)
    retention = RunRetention(plait.db, days=30, batch_size=4)
    written: list[str] = []
    seen: list[tuple[int, int]] = []

    async def write() -> None:
        now = utcnow()
        run = _run(seeded, status="succeeded", created_at=now, finished_at=now)
        async with plait.db.transaction() as session:
            session.add(run)
        written.append(run.id)

    async def after_batch(result: PruneResult) -> None:
        async with asyncio.timeout(30):  # a writer shut out until the prune ends would wait forever
            await asyncio.create_task(write())
        left = (await run_ids(plait)) & seeded.expired
        nodes = await node_counts(plait)
        seen.append((len(left), sum(nodes.get(run_id, 0) for run_id in seeded.expired)))
        assert len(left) == OLD_FINISHED - result.runs
        assert seen[-1][1] == OLD_FINISHED * NODES_PER_RUN - result.node_executions

    result = await retention.prune(after_batch=after_batch)

    assert result.runs == OLD_FINISHED
    assert len(written) == result.batches > 1
    assert seen[0] != seen[-1] == (0, 0)
    assert await run_ids(plait) == seeded.kept | set(written)


async def test_a_period_below_one_day_is_refused(plait: Plait) -> None:
    with pytest.raises(ValueError, match="at least one day"):
        await RunRetention(plait.db, days=0).prune()


async def test_the_serving_process_prunes_periodically(start_plait: StartPlait) -> None:
    plait, _ = await start_plait(
        PLAIT_RUN_RETENTION_DAYS="30", PLAIT_RETENTION_BATCH_SIZE="7", PLAIT_RETENTION_INTERVAL_SECONDS="1"
    )
    assert plait.retention.running
    seeded = await seed(plait)
    async with asyncio.timeout(60):
        while (await run_ids(plait)) & seeded.expired:
            await asyncio.sleep(0.1)
    assert await run_ids(plait) == seeded.kept
    await plait.retention.close()
    assert not plait.retention.running


async def test_retention_stays_off_by_default_and_in_one_shot_commands(plait: Plait, settings: Settings) -> None:
    assert not plait.retention.enabled
    assert not plait.retention.running
    settings.retention.run_days = 30
    one_shot = await bootstrap.start(settings, background=False)
    try:
        assert one_shot.retention.enabled
        assert not one_shot.retention.running
    finally:
        await one_shot.close()


def test_retention_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAIT_RUN_RETENTION_DAYS", "-1")
    with pytest.raises(ConfigurationError, match="PLAIT_RUN_RETENTION_DAYS"):
        load_settings()
    monkeypatch.setenv("PLAIT_RUN_RETENTION_DAYS", "14")
    monkeypatch.setenv("PLAIT_RETENTION_BATCH_SIZE", "0")
    with pytest.raises(ConfigurationError, match="PLAIT_RETENTION_BATCH_SIZE"):
        load_settings()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(plait_command(*args), env=os.environ | env, capture_output=True, text=True, timeout=120)


async def test_cli_prune_prints_counts(plait: Plait, plait_env: dict[str, str]) -> None:
    seeded = await seed(plait)
    expected = f"runs={OLD_FINISHED} node_executions={OLD_FINISHED * NODES_PER_RUN}"

    refused = await asyncio.to_thread(cli, plait_env, "runs", "prune")
    assert refused.returncode == 2
    assert "--older-than-days" in refused.stderr

    dry = await asyncio.to_thread(cli, plait_env, "runs", "prune", "--older-than-days", "30", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip().splitlines()[-1] == expected
    assert "Would delete" in dry.stderr
    assert await run_ids(plait) == seeded.expired | seeded.kept

    env = plait_env | {"PLAIT_RETENTION_BATCH_SIZE": "6"}
    done = await asyncio.to_thread(cli, env, "runs", "prune", "--older-than-days", "30")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == expected
    assert "Deleted" in done.stderr
    assert await run_ids(plait) == seeded.kept
