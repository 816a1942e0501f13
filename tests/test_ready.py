"""Readiness (``/ready``) and waiting for the database at startup.

Proves that ``/ready`` answers 503 in Dify's envelope (``service_unavailable``) while the
schema is not migrated and 200 once it is; that on PostgreSQL it turns 503 within a bounded
time when the database goes away (pooled connections included), while ``/health`` stays
200, and 200 again soon after the database is back; and that ``bootstrap.start`` retries an
unreachable database a bounded number of times before giving up with
``ServiceUnavailable``, and succeeds if the database appears while it is still retrying.

The outages are simulated with a TCP proxy in front of the real PostgreSQL server: stopping
it refuses new connections and cuts the open ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from structlog.testing import capture_logs

from plait.api.server import create_app
from plait.app import bootstrap
from plait.app.bootstrap import Plait
from plait.errors import ServiceUnavailable
from plait.settings import Settings, load_settings
from plait.storage.db import migrate

from .conftest import free_port

POSTGRES_HOST = "127.0.0.1"
REQUEST_TIMEOUT_SECONDS = 10
OUTAGE_DETECTED_WITHIN_SECONDS = 15
RECOVERED_WITHIN_SECONDS = 10
# Plait gives a new database connection 5 s to open (``Database.connect_timeout_seconds``);
# a readiness probe should not wait much longer for a database that does not answer.
UNANSWERED_READY_WITHIN_SECONDS = 10


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to an upstream address, both directions. ``stop`` closes
    the listening socket and aborts every open connection on both sides, like a database
    host that vanished; ``start`` listens on the same port again. ``freeze`` turns it into a
    black hole, like a network partition: connections stay open (and new ones are
    accepted) but every byte is swallowed, so nothing is refused and nothing answers."""

    def __init__(self, upstream_host: str, upstream_port: int, port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port
        self.accepted = 0
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.BaseTransport] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    def freeze(self) -> None:
        self.frozen = True

    async def stop(self) -> None:
        self.frozen = False
        if self._server is not None:
            self._server.close()
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        self._transports.add(client_writer.transport)
        try:
            if self.frozen:
                while await client_reader.read(65536):
                    pass
                return
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                client_writer.transport.abort()
                return
            self._transports.add(upstream_writer.transport)
            await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))
        finally:
            self._transports.discard(client_writer.transport)
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.frozen:
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._transports.discard(writer.transport)
            writer.transport.abort()


@asynccontextmanager
async def tcp_proxy(upstream_port: int, *, started: bool = True) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(POSTGRES_HOST, upstream_port, free_port())
    if started:
        await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


def require_postgresql(database_url: str) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("needs a database reached over the network (PostgreSQL); SQLite is a local file")


def settings_through(database_url: str, port: int, monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    """Settings whose DATABASE_URL is ``database_url`` with its port replaced by ``port``."""
    url = make_url(database_url).set(host=POSTGRES_HOST, port=port).render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


@asynccontextmanager
async def http_client(settings: Settings, plait: Plait) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(settings, plait=plait), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://plait.test") as http:
        yield http


async def get(http: httpx.AsyncClient, path: str) -> httpx.Response:
    return await asyncio.wait_for(http.get(path), timeout=REQUEST_TIMEOUT_SECONDS)


async def poll_until(
    fetch: Callable[[], Awaitable[httpx.Response]], status: int, within: float
) -> tuple[httpx.Response, float]:
    """Fetch until the status is ``status``; return that response and the seconds it took."""
    started = time.monotonic()
    deadline = started + within
    while True:
        response = await fetch()
        if response.status_code == status:
            return response, time.monotonic() - started
        if time.monotonic() > deadline:
            raise AssertionError(f"no {status} within {within}s; last: {response.status_code} {response.text}")
        await asyncio.sleep(0.1)


def assert_service_unavailable(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == "service_unavailable"
    assert body["status"] == 503
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


async def test_ready_is_503_until_the_schema_is_migrated(
    plait_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIGRATION_ENABLED", "false")
    settings = load_settings()
    instance = await bootstrap.start(settings)
    try:
        async with http_client(settings, instance) as http:
            before = await get(http, "/ready")
            await migrate.upgrade(instance.db)
            after = await get(http, "/ready")
    finally:
        await instance.close()

    body = assert_service_unavailable(before)
    assert set(body) == {"code", "message", "status"}
    assert "plait db upgrade" in body["message"]
    assert after.status_code == 200, after.text
    assert after.json()["schema_revision"] == migrate.head_revision()


async def test_ready_follows_postgresql_going_away_and_coming_back(
    database_url: str, plait_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgresql(database_url)
    upstream_port = make_url(database_url).port or 5432
    async with tcp_proxy(upstream_port) as proxy:
        settings = settings_through(database_url, proxy.port, monkeypatch)
        instance = await bootstrap.start(settings)
        try:
            async with http_client(settings, instance) as http:
                healthy = await get(http, "/ready")
                # Several requests, so that the pool holds connections for the outage to cut.
                await asyncio.gather(*(get(http, "/ready") for _ in range(5)))
                assert proxy.accepted >= 1

                await proxy.stop()
                down, took_down = await poll_until(lambda: get(http, "/ready"), 503, OUTAGE_DETECTED_WITHIN_SECONDS)
                health_while_down = await get(http, "/health")

                await proxy.start()
                back, took_back = await poll_until(lambda: get(http, "/ready"), 200, RECOVERED_WITHIN_SECONDS)
        finally:
            await instance.close()

    assert healthy.status_code == 200, healthy.text
    assert_service_unavailable(down)
    assert "database unreachable" in down.json()["message"]
    assert took_down < OUTAGE_DETECTED_WITHIN_SECONDS
    assert health_while_down.status_code == 200
    assert health_while_down.json()["status"] == "ok"
    assert back.json()["schema_revision"] == migrate.head_revision()
    assert took_back < RECOVERED_WITHIN_SECONDS


async def test_start_gives_up_after_the_configured_attempts(
    database_url: str, plait_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgresql(database_url)
    closed_port = free_port()  # nothing listens there
    settings = settings_through(database_url, closed_port, monkeypatch, PLAIT_DB_CONNECT_ATTEMPTS="3")

    with capture_logs() as logs, pytest.raises(ServiceUnavailable) as raised:
        await asyncio.wait_for(bootstrap.start(settings), timeout=60)

    waits = [entry for entry in logs if entry["event"] == "database.waiting"]
    # Three attempts: two failures followed by a wait, then the last failure is raised.
    assert [entry["attempt"] for entry in waits] == [1, 2]
    assert all(entry["of"] == 3 for entry in waits)
    assert raised.value.code == "service_unavailable"
    assert "database unreachable" in raised.value.message


async def test_start_succeeds_when_the_database_appears_while_retrying(
    database_url: str, plait_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgresql(database_url)
    upstream_port = make_url(database_url).port or 5432
    async with tcp_proxy(upstream_port, started=False) as proxy:
        settings = settings_through(database_url, proxy.port, monkeypatch, PLAIT_DB_CONNECT_ATTEMPTS="10")

        async def database_appears_later() -> None:
            await asyncio.sleep(0.5)
            await proxy.start()

        appears = asyncio.create_task(database_appears_later())
        try:
            with capture_logs() as logs:
                instance = await asyncio.wait_for(bootstrap.start(settings), timeout=60)
        finally:
            with suppress(asyncio.CancelledError):
                await appears
        try:
            revision = await instance.check_ready()
        finally:
            await instance.close()

    assert any(entry["event"] == "database.waiting" for entry in logs), "start() never had to wait"
    assert proxy.accepted >= 1
    assert revision == migrate.head_revision()


async def test_ready_is_503_within_a_bounded_time_when_postgresql_stops_answering(
    database_url: str, plait_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgresql(database_url)
    upstream_port = make_url(database_url).port or 5432
    async with tcp_proxy(upstream_port) as proxy:
        settings = settings_through(database_url, proxy.port, monkeypatch)
        instance = await bootstrap.start(settings)
        try:
            async with http_client(settings, instance) as http:
                healthy = await get(http, "/ready")  # leaves a connection in the pool
                proxy.freeze()
                started = time.monotonic()
                try:
                    unanswered = await asyncio.wait_for(http.get("/ready"), timeout=UNANSWERED_READY_WITHIN_SECONDS)
                except TimeoutError:
                    pytest.fail(f"/ready gave no answer within {UNANSWERED_READY_WITHIN_SECONDS}s")
                took = time.monotonic() - started
                health_while_frozen = await get(http, "/health")
        finally:
            await proxy.stop()  # aborts the swallowed connections, so nothing stays stuck
            await instance.close()

    assert healthy.status_code == 200, healthy.text
    assert_service_unavailable(unanswered)
    assert took < UNANSWERED_READY_WITHIN_SECONDS
    assert health_while_frozen.status_code == 200
