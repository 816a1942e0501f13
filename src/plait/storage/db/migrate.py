"""Schema migrations (Alembic), run under a lock so that replicas starting together migrate
once: the first takes the lock and upgrades, the others wait for it and find nothing to do.

PostgreSQL: a transaction-scoped advisory lock, and the whole upgrade in that transaction
(PostgreSQL's DDL is transactional, so a failed upgrade leaves the schema as it was).
SQLite: a lock file beside the database file, since SQLite's own lock cannot be held for
longer than the busy timeout without failing the waiters.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import text
from sqlalchemy.engine import make_url

from plait.storage.db.engine import Database

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# An arbitrary 64-bit constant naming Plait's migration lock among advisory locks.
ADVISORY_LOCK_KEY = 0x706C_6169_7400_0001
LOCK_WAIT_SECONDS = 600


@dataclass(frozen=True)
class UpgradeResult:
    before: str | None
    after: str | None

    @property
    def applied(self) -> bool:
        return self.before != self.after


def alembic_config(connection: Any = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(connection: Any) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Any) -> UpgradeResult:
    before = _current(connection)
    command.upgrade(alembic_config(connection), "head")
    return UpgradeResult(before=before, after=_current(connection))


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)


async def is_up_to_date(db: Database) -> bool:
    return await current_revision(db) == head_revision()


def _sqlite_lock_path(db: Database) -> Path | None:
    database = make_url(db.url).database
    if not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + ".migrate.lock")


async def upgrade(db: Database) -> UpgradeResult:
    """Bring the schema to the newest revision, once, however many processes ask at once."""
    if db.dialect == "postgresql":
        async with db.connection() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            result = await conn.run_sync(_upgrade)
    else:
        lock_path = _sqlite_lock_path(db)
        lock = FileLock(str(lock_path), timeout=LOCK_WAIT_SECONDS) if lock_path else None
        if lock is not None:
            await asyncio.to_thread(lock.acquire)
        try:
            result = await db.run_sync(_upgrade)
        finally:
            if lock is not None:
                lock.release()
    if result.applied:
        log.info("database.migrated", before=result.before, after=result.after)
    else:
        log.debug("database.up_to_date", revision=result.after)
    return result
