"""The composition root: settings in, a wired :class:`Plait` out.

This is the one place that reads settings and builds the database, stores and use-cases;
everything it builds receives what it needs as arguments. ``start`` also waits for the
database (bounded retries with backoff) and migrates it under the migration lock, so every
entry point (``plait serve``, the CLI commands, a worker) starts the same way.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import structlog

from plait import __version__
from plait.app.accounts import Accounts
from plait.app.active_requests import ActiveRequests
from plait.app.app_access import AppAccess
from plait.app.apps import Apps
from plait.app.chat_runs import ChatRuns
from plait.app.conversations import Conversations
from plait.app.end_users import EndUsers
from plait.app.engine_services import build_services
from plait.app.feedback import Feedback
from plait.app.files import Uploads
from plait.app.keys import Keys
from plait.app.run_records import RunRecorder
from plait.app.tasks import RunningTasks
from plait.app.workflow_logs import WorkflowLogs
from plait.app.workflow_runs import WorkflowRuns
from plait.app.workspaces import Workspaces
from plait.egress import Egress
from plait.engine.runtime import RunLimits
from plait.errors import ServiceUnavailable
from plait.providers.fake import FakeChatModel
from plait.settings import Settings
from plait.storage.db import Database, migrate
from plait.storage.files import LocalFileStore

log = structlog.get_logger(__name__)

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


def resolve_secret_key(settings: Settings) -> str:
    """``SECRET_KEY``, or (outside production) a random key kept in the data directory, so
    that a fresh ``make run`` is secure without the user having to invent one."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / SECRET_KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first; use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    log.info("secret_key.generated", path=str(path))
    return key


@dataclass
class Plait:
    settings: Settings
    db: Database
    secret_key: str
    accounts: Accounts
    apps: Apps
    keys: Keys
    workspaces: Workspaces
    recorder: RunRecorder
    workflow_runs: WorkflowRuns
    chat_runs: ChatRuns
    conversations: Conversations
    feedback: Feedback
    active_requests: ActiveRequests
    uploads: Uploads
    app_access: AppAccess
    workflow_logs: WorkflowLogs
    egress: Egress
    version: str = __version__

    async def check_ready(self) -> str | None:
        """Raise :class:`ServiceUnavailable` unless the database is reachable and migrated;
        return the schema revision."""
        await self.db.ping()
        try:
            async with asyncio.timeout(self.db.connect_timeout_seconds):
                current = await migrate.current_revision(self.db)
        except Exception as error:  # the database went away between the two queries
            raise ServiceUnavailable(f"database unreachable: {type(error).__name__}") from error
        head = migrate.head_revision()
        if current != head:
            raise ServiceUnavailable(
                f"database schema is at {current or 'nothing'}, expected {head}; run `plait db upgrade`"
            )
        return current

    async def close(self) -> None:
        await self.recorder.close()
        await self.egress.aclose()
        await self.db.dispose()


def build(settings: Settings) -> Plait:
    """Wire Plait without touching the database."""
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    db = Database(
        settings.database_url,
        pool_size=settings.database.pool_size,
        sqlite_busy_timeout_ms=settings.database.sqlite_busy_timeout_ms,
    )
    recorder = RunRecorder(db)
    # Until model providers are configured per workspace, every LLM node answers from the
    # deterministic fake model: Plait runs offline with no keys.
    services, egress = build_services(settings.egress, settings.code, FakeChatModel())
    end_users = EndUsers(db)
    workflow_runs = WorkflowRuns(db, end_users, recorder, services, RunLimits(), RunningTasks())
    return Plait(
        settings=settings,
        db=db,
        secret_key=resolve_secret_key(settings),
        accounts=Accounts(db, settings.auth),
        apps=Apps(db),
        keys=Keys(db),
        workspaces=Workspaces(db),
        recorder=recorder,
        workflow_runs=workflow_runs,
        chat_runs=ChatRuns(db, workflow_runs, recorder, services, RunLimits()),
        conversations=Conversations(db),
        feedback=Feedback(db),
        app_access=AppAccess(db),
        uploads=Uploads(
            db,
            LocalFileStore(Path(settings.data_dir) / "files"),
            end_users,
            max_bytes=settings.uploads.max_mb * 1024 * 1024,
        ),
        active_requests=ActiveRequests(
            default_limit=settings.apps.default_active_requests, max_limit=settings.apps.max_active_requests
        ),
        workflow_logs=WorkflowLogs(db),
        egress=egress,
    )


async def start(settings: Settings, *, migrate_now: bool | None = None) -> Plait:
    """Build Plait, wait for its database and bring the schema up to date."""
    plait = build(settings)
    try:
        await plait.db.wait_until_reachable(
            attempts=settings.database.connect_attempts,
            backoff_max_seconds=settings.database.connect_backoff_max_seconds,
        )
        if settings.database.migrate_on_start if migrate_now is None else migrate_now:
            await migrate.upgrade(plait.db)
        plait.recorder.start()
    except BaseException:
        await plait.close()
        raise
    return plait
