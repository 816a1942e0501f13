"""``plait serve`` as ``make run`` starts it: a fresh data directory is initialised, the
server answers, and it tells a new user what to do next."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from .conftest import free_port, plait_command


def test_serve_initialises_a_fresh_data_directory_and_says_what_next(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "fresh"
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "SECRET_KEY")}
    env |= {"PLAIT_DATA_DIR": str(data_dir), "PLAIT_LOG_FORMAT": "json"}
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(plait_command("serve", "--port", str(port)), env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        setup = httpx.get(f"http://127.0.0.1:{port}/console/api/setup", timeout=5).json()
        assert setup["step"] == "not_started"
        output = log_path.read_text()
        assert f"running at http://127.0.0.1:{port}" in output
        assert "plait setup --email" in output
        assert (data_dir / "plait.db").is_file()
        assert (data_dir / "secret_key").is_file()
    finally:
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in log_path.read_text()
