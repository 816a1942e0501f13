"""Replicas starting together on a fresh, empty database migrate it exactly once.

Two ``plait db upgrade`` processes, and separately two ``plait serve`` processes, are
started at the same moment on an empty database (SQLite and PostgreSQL). Both must come up
(exit 0, or answer ``/ready`` with 200), exactly one of them must log the
``database.migrated`` event (the other waits on the migration lock and finds nothing to
do), and ``alembic_version`` must end with the single head revision.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import IO, Any

import httpx
from sqlalchemy import text

from plait.storage.db import Database, migrate

from .conftest import free_port, plait_command

PROCESS_TIMEOUT_SECONDS = 60
READY_TIMEOUT_SECONDS = 30


def _log_events(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines in a process's standard error (anything else is ignored)."""
    events = []
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _count_event(stderrs: list[str], name: str) -> int:
    return sum(1 for stderr in stderrs for event in _log_events(stderr) if event.get("event") == name)


async def _alembic_versions(database_url: str) -> list[str]:
    db = Database(database_url)
    try:
        async with db.reader() as session:
            return list((await session.scalars(text("SELECT version_num FROM alembic_version"))).all())
    finally:
        await db.dispose()


@contextmanager
def _started_together(
    commands: list[list[str]], env: dict[str, str]
) -> Iterator[list[tuple[subprocess.Popen[bytes], IO[bytes]]]]:
    """Start every command at once, stderr to a temporary file (a pipe nobody reads could
    fill up and block a server); on exit, kill whatever still runs and reap it."""
    started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
    with ExitStack() as files:
        try:
            for argv in commands:
                stderr = files.enter_context(tempfile.TemporaryFile())
                process = subprocess.Popen(
                    argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
                )
                started.append((process, stderr))
            yield started
        finally:
            for process, _ in started:
                if process.poll() is None:
                    process.kill()
            for process, _ in started:
                process.wait(timeout=PROCESS_TIMEOUT_SECONDS)


def _read(stderr: IO[bytes]) -> str:
    stderr.seek(0)
    return stderr.read().decode(errors="replace")


async def _wait_for_exit(process: subprocess.Popen[bytes], timeout: float) -> int:
    return await asyncio.to_thread(process.wait, timeout)


async def test_two_simultaneous_db_upgrades_migrate_once(plait_env: dict[str, str], database_url: str) -> None:
    env = os.environ | plait_env
    with _started_together([plait_command("db", "upgrade"), plait_command("db", "upgrade")], env) as processes:
        codes = await asyncio.gather(*(_wait_for_exit(p, PROCESS_TIMEOUT_SECONDS) for p, _ in processes))
        stderrs = [_read(stderr) for _, stderr in processes]

    assert codes == [0, 0], stderrs
    assert _count_event(stderrs, "database.migrated") == 1, stderrs
    assert await _alembic_versions(database_url) == [migrate.head_revision()]


async def _wait_until_ready(
    http: httpx.AsyncClient, port: int, process: subprocess.Popen[bytes], stderr: IO[bytes]
) -> httpx.Response:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last: str = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"plait serve on port {port} exited with {process.returncode}: {_read(stderr)}")
        try:
            response = await http.get(f"http://127.0.0.1:{port}/ready")
        except httpx.TransportError as error:
            last = repr(error)
        else:
            if response.status_code == 200:
                return response
            last = f"{response.status_code} {response.text}"
        await asyncio.sleep(0.1)
    raise AssertionError(f"plait serve on port {port} not ready in {READY_TIMEOUT_SECONDS}s ({last}): {_read(stderr)}")


async def test_two_simultaneous_servers_migrate_once(plait_env: dict[str, str], database_url: str) -> None:
    env = os.environ | plait_env
    ports = [free_port(), free_port()]
    while ports[1] == ports[0]:
        ports[1] = free_port()
    commands = [plait_command("serve", "--port", str(port)) for port in ports]
    with _started_together(commands, env) as processes:
        async with httpx.AsyncClient(timeout=5) as http:
            responses = await asyncio.gather(
                *(
                    _wait_until_ready(http, port, process, stderr)
                    for port, (process, stderr) in zip(ports, processes, strict=True)
                )
            )
        for process, _ in processes:
            process.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*(_wait_for_exit(p, PROCESS_TIMEOUT_SECONDS) for p, _ in processes))
        stderrs = [_read(stderr) for _, stderr in processes]

    assert [response.json()["schema_revision"] for response in responses] == [migrate.head_revision()] * 2
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete, so a graceful
    # stop may end "killed by SIGTERM"; what matters is that the shutdown ran to the end.
    assert all(code in (0, -signal.SIGTERM) for code in codes), (codes, stderrs)
    assert _count_event(stderrs, "Application shutdown complete.") == 2, stderrs
    assert _count_event(stderrs, "database.migrated") == 1, stderrs
    assert await _alembic_versions(database_url) == [migrate.head_revision()]
