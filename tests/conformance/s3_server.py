"""An S3-compatible server on loopback for the tests: moto's server mode (``moto[server]``,
a dev dependency), in its own process on a free port, stopped at the end.

A separate process rather than moto's in-process thread, so the store under test talks to
it over real HTTP exactly as it would to a bucket elsewhere, and nothing of moto is loaded
into the process being tested. Moto keeps everything in memory; each test makes its own
bucket, so tests never see each other's objects.
"""

from __future__ import annotations

import importlib.util
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ACCESS_KEY = "plait-test-access"
SECRET_KEY = "plait-test-secret"  # moto accepts any credentials
REGION = "us-east-1"
START_SECONDS = 30.0


class S3ServerUnavailable(Exception):
    """moto is not installed, or its server would not start (the message says why)."""


@dataclass
class S3Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create_bucket(self) -> str:
        # Imported here so that conftest.py loads without boto3 (the tests that need it skip).
        import boto3
        from botocore.config import Config

        name = f"plait-test-{secrets.token_hex(6)}"
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )
        try:
            client.create_bucket(Bucket=name)
        finally:
            client.close()
        return name

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_s3_server() -> S3Server:
    """``python -m moto.server`` on a free loopback port, once it accepts connections."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        raise S3ServerUnavailable("moto[server] is not installed (pip install -e '.[dev]')")
    port = _free_port()
    # The server logs every request: to a file, since a pipe nobody drains would block it.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")[-2000:]
                raise S3ServerUnavailable(f"moto server exited with {process.returncode}: {output}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                time.sleep(0.1)
                continue
            return S3Server(process, port)
    process.kill()
    process.wait()
    raise S3ServerUnavailable(f"moto server did not listen on 127.0.0.1:{port} within {START_SECONDS:.0f}s")
