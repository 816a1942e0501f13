"""The background jobs that turn an app's annotation reply on and off, with their status kept
in the database (as Dify keeps it in Redis) so that it can be polled from any replica and
survives a restart.

Enabling embeds every annotation question that has no current vector under the chosen model,
then writes the app's setting (so replies only start once every vector is ready); disabling
removes the setting. A job runs as an asyncio task of the process that accepted it and
beats (``heartbeat_at``) while it runs. A job whose runner stopped beating (the process was
killed or restarted) is marked ``error`` with a message: at startup, and whenever its status
is read. Jobs of one app run one after another within a process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import delete, select, update

from plait.app.annotations import EmbeddingModelFor, check_threshold, embedding_record, is_current
from plait.app.audit import Actor, record
from plait.errors import InvalidInput, PlaitError
from plait.ids import is_uuid, new_id
from plait.storage.db import Database
from plait.storage.db.tables import Annotation, AnnotationJob, AnnotationSetting, App
from plait.storage.db.types import utcnow

log = structlog.get_logger(__name__)

ACTIONS = ("enable", "disable")
LIVE = ("waiting", "processing")
HEARTBEAT_SECONDS = 2.0
STALE_AFTER_SECONDS = 15.0
EMBED_BATCH = 32
INTERRUPTED = "The job was interrupted: Plait stopped before it finished. Run it again."
UNSUPPORTED_ACTION = "Unsupported annotation reply action"


def _batches(items: list[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check_action(action: str) -> None:
    if action not in ACTIONS:
        raise InvalidInput(UNSUPPORTED_ACTION, params="action")


class AnnotationJobs:
    def __init__(
        self,
        db: Database,
        embedding_models: EmbeddingModelFor,
        *,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        stale_after_seconds: float = STALE_AFTER_SECONDS,
    ) -> None:
        self._db = db
        self._models = embedding_models
        self._heartbeat = heartbeat_seconds
        self._stale_after = timedelta(seconds=stale_after_seconds)
        # Names this process in the jobs it runs; another process's jobs are judged by their beat.
        self.runner_id = new_id()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._starting: set[str] = set()  # accepted, task not started yet
        self._app_locks: dict[str, asyncio.Lock] = {}

    async def recover(self) -> int:
        """Mark every job whose runner stopped beating as failed; returns how many."""
        cutoff = utcnow() - self._stale_after
        async with self._db.transaction() as session:
            result = await session.execute(
                update(AnnotationJob)
                .where(
                    AnnotationJob.status.in_(LIVE),
                    AnnotationJob.runner_id != self.runner_id,
                    AnnotationJob.heartbeat_at < cutoff,
                )
                .values(status="error", error_msg=INTERRUPTED)
            )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.warning("annotation_jobs.interrupted", jobs=count)
        return count

    async def start(
        self,
        app: App,
        actor: Actor,
        action: str,
        *,
        embedding_provider_name: str,
        embedding_model_name: str,
        score_threshold: float,
    ) -> tuple[AnnotationJob, bool]:
        """Accept a job, or return the one already running for this app and action.
        Returns the job and whether it is new."""
        check_action(action)
        if action == "enable":
            check_threshold(score_threshold)
            if not embedding_provider_name.strip():
                raise InvalidInput("embedding_provider_name must not be empty", params="embedding_provider_name")
            if not embedding_model_name.strip():
                raise InvalidInput("embedding_model_name must not be empty", params="embedding_model_name")
        job_id = new_id()
        try:
            async with self._db.transaction() as session:
                running = await session.execute(
                    select(AnnotationJob)
                    .where(
                        AnnotationJob.app_id == app.id, AnnotationJob.action == action, AnnotationJob.status.in_(LIVE)
                    )
                    .order_by(AnnotationJob.created_at.desc())
                )
                for job in running.scalars():
                    if self._alive(job):
                        return job, False
                parameters = {
                    "embedding_provider_name": embedding_provider_name,
                    "embedding_model_name": embedding_model_name,
                    "score_threshold": score_threshold,
                }
                job = AnnotationJob(
                    id=job_id,
                    app_id=app.id,
                    action=action,
                    status="waiting",
                    error_msg="",
                    parameters=parameters,
                    runner_id=self.runner_id,
                    heartbeat_at=utcnow(),
                    created_by_account_id=actor.account_id,
                )
                self._starting.add(job_id)
                session.add(job)
                await session.flush()
                record(
                    session,
                    actor,
                    f"annotation_reply.{action}",
                    workspace_id=app.workspace_id,
                    target_type="app",
                    target_id=app.id,
                    detail={"job_id": job.id, **parameters},
                )
        except BaseException:
            self._starting.discard(job_id)
            raise
        task = asyncio.ensure_future(self._run(app, job.id, action, parameters, actor.account_id))
        self._tasks[job.id] = task
        self._starting.discard(job.id)
        task.add_done_callback(lambda _done: self._tasks.pop(job_id, None))
        return job, True

    async def status(self, app: App, action: str, job_id: str) -> AnnotationJob:
        check_action(action)
        async with self._db.reader() as session:
            job = await session.get(AnnotationJob, job_id) if is_uuid(job_id) else None
        if job is None or job.app_id != app.id or job.action != action:
            # Dify's answer for a job it does not know (a ValueError: 400).
            raise InvalidInput("The job does not exist.", params="job_id")
        if job.status in LIVE and not self._alive(job):
            if await self._finish(job.id, "error", INTERRUPTED):
                job.status, job.error_msg = "error", INTERRUPTED
            else:  # it finished between the read and now
                async with self._db.reader() as session:
                    job = await session.get(AnnotationJob, job.id) or job
        return job

    async def wait(self, job_id: str) -> None:
        """Until the job this process runs is done (tests, and a clean shutdown)."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _alive(self, job: AnnotationJob) -> bool:
        if job.runner_id == self.runner_id:
            return job.id in self._tasks or job.id in self._starting
        return job.heartbeat_at > utcnow() - self._stale_after

    def _app_lock(self, app_id: str) -> asyncio.Lock:
        return self._app_locks.setdefault(app_id, asyncio.Lock())

    async def _run(
        self, app: App, job_id: str, action: str, parameters: dict[str, Any], account_id: str | None
    ) -> None:
        beating = asyncio.ensure_future(self._beat(job_id))
        try:
            async with self._app_lock(app.id):
                await self._finish(job_id, "processing")
                if action == "enable":
                    await self._enable(app, parameters, account_id)
                else:
                    await self._disable(app)
            await self._finish(job_id, "completed")
        except asyncio.CancelledError:
            await asyncio.shield(self._finish(job_id, "error", INTERRUPTED))
            raise
        except PlaitError as error:
            await self._finish(job_id, "error", error.message)
        except Exception as error:  # a job must end with a status, whatever went wrong
            log.exception("annotation_jobs.failed", job_id=job_id, action=action)
            await self._finish(job_id, "error", f"{type(error).__name__}: {error}")
        finally:
            beating.cancel()

    async def _beat(self, job_id: str) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            try:
                async with self._db.transaction() as session:
                    await session.execute(
                        update(AnnotationJob)
                        .where(AnnotationJob.id == job_id, AnnotationJob.status.in_(LIVE))
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # a missed beat is not fatal; the next one may land
                log.warning("annotation_jobs.heartbeat_failed", job_id=job_id, exc_info=True)

    async def _finish(self, job_id: str, status: str, error_msg: str = "") -> bool:
        """Move a live job to ``status`` (compare-and-set: a finished job stays finished);
        whether it moved."""
        async with self._db.transaction() as session:
            result = await session.execute(
                update(AnnotationJob)
                .where(AnnotationJob.id == job_id, AnnotationJob.status.in_(LIVE))
                .values(status=status, error_msg=error_msg, heartbeat_at=utcnow())
            )
        return bool(getattr(result, "rowcount", 0))

    async def _enable(self, app: App, parameters: dict[str, Any], account_id: str | None) -> None:
        target = AnnotationSetting(
            app_id=app.id,
            score_threshold=parameters["score_threshold"],
            embedding_provider_name=parameters["embedding_provider_name"],
            embedding_model_name=parameters["embedding_model_name"],
        )
        model = await self._models(app.workspace_id, target.embedding_provider_name, target.embedding_model_name)
        async with self._db.reader() as session:
            rows = await session.execute(
                select(Annotation.id, Annotation.question, Annotation.embedding).where(Annotation.app_id == app.id)
            )
            stale = [
                (row_id, question)
                for row_id, question, embedding in rows.all()
                if not is_current(embedding, target, question)
            ]
        for batch in _batches(stale, EMBED_BATCH):
            vectors = (await model.embed([question for _, question in batch], input_type="document")).vectors
            if len(vectors) != len(batch):
                raise PlaitError(f"the embedding model returned {len(vectors)} vectors for {len(batch)} questions")
            async with self._db.transaction() as session:
                for (row_id, question), vector in zip(batch, vectors, strict=True):
                    # Only if the question is still the one embedded; an edit since re-embeds itself.
                    await session.execute(
                        update(Annotation)
                        .where(Annotation.id == row_id, Annotation.question == question)
                        .values(embedding=embedding_record(target, question, vector))
                    )
        async with self._db.transaction() as session:
            setting = (
                await session.execute(
                    select(AnnotationSetting).where(AnnotationSetting.app_id == app.id).with_for_update()
                )
            ).scalar_one_or_none()
            if setting is None:
                target.created_by_account_id = account_id
                target.updated_by_account_id = account_id
                session.add(target)
            else:
                setting.score_threshold = target.score_threshold
                setting.embedding_provider_name = target.embedding_provider_name
                setting.embedding_model_name = target.embedding_model_name
                setting.updated_by_account_id = account_id

    async def _disable(self, app: App) -> None:
        async with self._db.transaction() as session:
            await session.execute(delete(AnnotationSetting).where(AnnotationSetting.app_id == app.id))
