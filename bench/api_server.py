"""A real ``plait serve`` process for one database shape, set up through the CLI.

The benchmark measures what an operator runs: the installed ``plait`` command, started and
configured the documented way (``plait setup``, ``plait apps import --publish``, ``plait keys
create``), not an in-process app. Everything it creates is thrown away on exit: the temp data
directory and, for the PostgreSQL shape, the database it created.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from api_http import get_status

ROOT = Path(__file__).resolve().parent.parent
PLAIT = ROOT / ".venv" / "bin" / "plait"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
READY_TIMEOUT_S = 60.0
SETUP = ["setup", "--email", "bench@example.com", "--password", "bench-passw0rd1"]

# start -> end, one text input echoed to one output: the smallest workflow, so the numbers
# are the platform's per-request cost (auth, lookups, run, recording), not node work.
ECHO_DSL = """\
version: "0.6.0"
kind: app
app:
  name: Echo
  mode: workflow
workflow:
  graph:
    nodes:
      - id: start
        data:
          type: start
          title: Start
          variables:
            - {variable: q, label: q, type: text-input, required: true}
      - id: end
        data:
          type: end
          title: End
          outputs:
            - {variable: q, value_selector: [start, q]}
    edges:
      - {id: start-end, source: start, target: end}
  features: {}
  environment_variables: []
  conversation_variables: []
"""


@dataclass
class Server:
    shape: str
    port: int
    token: str
    pid: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cli(env: dict[str, str], args: list[str], stdin: str | None = None) -> str:
    """Run ``plait ARGS``; its result is the last line of standard output."""
    done = subprocess.run(
        [str(PLAIT), *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"plait {args[0]} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout.strip().splitlines()[-1]


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def _database(shape: str, data_dir: Path) -> Iterator[dict[str, str]]:
    """Environment variables naming a fresh database of ``shape``; it is dropped afterwards."""
    if shape == "sqlite":
        yield {}
        return
    name = f"plait_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{name}"}
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"plait serve exited with {process.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            if asyncio.run(get_status(port, "/ready")) == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"plait serve not ready after {READY_TIMEOUT_S:.0f} s: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def serve(shape: str, profile: Path | None = None) -> Iterator[Server]:
    """A ready server of ``shape`` ("sqlite" or "postgres") with the Echo app published and an
    app key; stopped with SIGTERM and cleaned up on exit. With ``profile``, the server runs
    under cProfile and writes its statistics there when it stops (uvicorn exits normally on
    SIGTERM), to see where the server's time goes under the very same load."""
    temp = Path(tempfile.mkdtemp(prefix=f"plait-bench-{shape}-"))
    try:
        with _database(shape, temp) as db_env:
            env = {
                **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
                "PLAIT_DATA_DIR": str(temp / "data"),
                "LOG_LEVEL": "WARNING",
                "PLAIT_LOG_FORMAT": "json",
                **db_env,
            }
            port = free_port()
            log = temp / "serve.log"
            with log.open("wb") as log_file:
                command = [str(PLAIT)]
                if profile is not None:
                    command = [sys.executable, str(Path(__file__).with_name("api_profile.py")), str(profile)]
                process = subprocess.Popen(
                    [*command, "serve", "--port", str(port)],
                    env=env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=temp,
                )
            try:
                _wait_ready(process, port, log)
                _cli(env, SETUP)
                app_id = _cli(env, ["apps", "import", "-", "--publish"], stdin=ECHO_DSL)
                token = _cli(env, ["keys", "create", app_id])
                yield Server(shape, port, token, process.pid)
            finally:
                _stop(process)
                problems = [line for line in log.read_text().splitlines() if '"level": "error"' in line]
                if problems:
                    print(f"[{shape}] server logged {len(problems)} errors, first: {problems[0][:300]}")
    finally:
        shutil.rmtree(temp, ignore_errors=True)
