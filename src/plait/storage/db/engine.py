"""Connections and transactions for SQLite and PostgreSQL.

``Database.transaction()`` is for work that writes; ``Database.reader()`` for work that only
reads. The split exists for SQLite: a deferred transaction that reads first and writes later
must upgrade its shared lock, and two such transactions deadlock (one gets SQLITE_BUSY at
once, whatever the busy timeout). Writers therefore start with ``BEGIN IMMEDIATE`` on a
single pooled connection, so they queue in Plait instead of failing in SQLite, while readers
run concurrently on their own connections under WAL. On PostgreSQL both share one pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from plait.errors import ServiceUnavailable

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Errors that mean "the database cannot be reached right now", as opposed to a bad query.
UNREACHABLE = (OperationalError, DBAPIError, OSError, asyncio.TimeoutError)


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        sqlite_busy_timeout_ms: int = 5000,
        connect_timeout_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        self.connect_timeout_seconds = connect_timeout_seconds
        if self.dialect == "sqlite":
            self._engine = self._sqlite_engine(url, sqlite_busy_timeout_ms, begin="BEGIN", pool_size=pool_size)
            self._writer = self._sqlite_engine(url, sqlite_busy_timeout_ms, begin="BEGIN IMMEDIATE", pool_size=1)
        elif self.dialect == "postgresql":
            self._engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                pool_recycle=3600,
                connect_args={"timeout": connect_timeout_seconds, "server_settings": {"application_name": "plait"}},
            )
            self._writer = self._engine
        else:  # settings only let the two through; this guards direct use
            raise ValueError(f"unsupported database backend: {self.dialect}")

    @staticmethod
    def _sqlite_engine(url: str, busy_timeout_ms: int, *, begin: str, pool_size: int) -> AsyncEngine:
        parsed = make_url(url)
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # No pre-ping: a local file does not drop connections the way a server does.
            engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
        else:
            engine = create_async_engine(url, poolclass=NullPool)

        @event.listens_for(engine.sync_engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" hook below decide how transactions start, instead of
            # the sqlite3 module's implicit deferred BEGIN before the first write.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql(begin)

        return engine

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction: committed on success, rolled back on error."""
        async with AsyncSession(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; it sees one consistent snapshot and never writes."""
        async with AsyncSession(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A raw connection in a write transaction (migrations, locks)."""
        async with self._writer.begin() as conn:
            yield conn

    async def ping(self) -> None:
        """Raise :class:`ServiceUnavailable` unless a trivial query succeeds in time.

        The time limit matters when the server stops answering without closing connections
        (a network partition): a pooled connection would otherwise wait forever."""
        try:
            async with asyncio.timeout(self.connect_timeout_seconds), self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except UNREACHABLE as error:
            raise ServiceUnavailable(f"database unreachable: {_reason(error)}") from error

    async def wait_until_reachable(self, *, attempts: int, backoff_max_seconds: float) -> None:
        """Ping with exponential backoff, at most ``attempts`` times, then give up loudly."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.25, max=backoff_max_seconds),
            retry=retry_if_exception_type(ServiceUnavailable),
            before_sleep=lambda state: log.warning(
                "database.waiting",
                attempt=state.attempt_number,
                of=attempts,
                error=str(state.outcome.exception()) if state.outcome else None,
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self.ping()

    async def run_sync(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(sync_connection)`` inside a write transaction (Alembic needs this)."""
        async with self.connection() as conn:
            return await conn.run_sync(fn)

    async def dispose(self) -> None:
        await self._engine.dispose()
        if self._writer is not self._engine:
            await self._writer.dispose()


def _reason(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text_ = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return text_[:200]
