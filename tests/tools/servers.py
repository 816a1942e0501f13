"""Real ASGI apps served by uvicorn on a loopback port, in a thread of their own (so a test
that blocks its event loop cannot stall the server it waits on), and the egress policies
the tool tests use."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from plait.egress import EgressPolicy

LOOPBACK = EgressPolicy(
    allow_loopback=True, connect_timeout=2.0, read_timeout=5.0, write_timeout=2.0, total_timeout=5.0
)
STRICT = EgressPolicy(connect_timeout=2.0, read_timeout=5.0, write_timeout=2.0, total_timeout=5.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="auto"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
