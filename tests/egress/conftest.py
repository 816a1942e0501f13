"""Fixtures for the egress tests: a loopback HTTP(S) server that records what reaches it,
and a guard that makes sure no test ever opens a connection to anything but loopback.

The server runs in its own threads (``http.server``), so a bug that blocks the event loop
cannot also stall the server the test is waiting on.
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from plait.egress import Egress, EgressPolicy

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})
# Short limits so that every test is over in well under a second or two.
LOOPBACK_POLICY = EgressPolicy(
    allow_loopback=True, connect_timeout=2.0, read_timeout=2.0, write_timeout=2.0, total_timeout=4.0
)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[Recorded]
    endless_done: threading.Event
    endless_sent: int

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-body is what several tests do on purpose."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._route()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _route(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        self.server.requests.append(Recorded(self.command, self.path, dict(self.headers.items())))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/echo":
            echo = {
                "method": self.command,
                "path": url.path,
                "query": parse_qs(url.query),
                "headers": {key.lower(): value for key, value in self.headers.items()},
                "body": body.decode("latin-1"),
            }
            self._send(int(query.get("status", 200)), json.dumps(echo).encode(), "application/json")
        elif url.path == "/cookie":
            self._send(200, b"", headers={"Set-Cookie": "session=tenant-a-secret; Path=/"})
        elif url.path == "/redirect":
            self._send(int(query.get("status", 302)), b"", headers={"Location": query["to"]})
        elif url.path.startswith("/loop/"):
            step = int(url.path.rsplit("/", 1)[1])
            self._send(302, b"", headers={"Location": f"/loop/{step + 1}"})
        elif url.path == "/bytes":
            self._send(200, b"x" * int(query["n"]))
        elif url.path == "/gzip":
            self._send(200, gzip.compress(b"\0" * int(query["n"])), headers={"Content-Encoding": "gzip"})
        elif url.path == "/slow":
            time.sleep(float(query["seconds"]))
            self._send(200, b"late")
        elif url.path == "/endless":
            self._endless()
        elif url.path == "/trickle":
            self._trickle(int(query["n"]), float(query["every"]))
        elif url.path == "/chunks":
            self._chunks(int(query["n"]))
        else:
            self._send(404, b"not found")

    def _send(
        self, status: int, body: bytes, content_type: str = "text/plain", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _endless(self) -> None:
        """Up to 1 GiB with no Content-Length; counts what it managed to send."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"y" * 65536
        try:
            for _ in range(16384):
                self.wfile.write(chunk)
                self.server.endless_sent += len(chunk)
        except OSError:
            pass
        finally:
            self.server.endless_done.set()

    def _trickle(self, n: int, every: float) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        try:
            for _ in range(n):
                self.wfile.write(b"z")
                self.wfile.flush()
                time.sleep(every)
        except OSError:
            pass

    def _chunks(self, n: int) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index in range(n):
            data = f"chunk-{index};".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            time.sleep(0.05)
        self.wfile.write(b"0\r\n\r\n")


@dataclass
class LoopbackServer:
    port: int
    scheme: str
    server: _Server
    requests: list[Recorded] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    @property
    def endless_sent(self) -> int:
        return self.server.endless_sent

    def wait_endless_done(self, timeout: float) -> bool:
        return self.server.endless_done.wait(timeout)


def _serve(ssl_context: ssl.SSLContext | None = None) -> Iterator[LoopbackServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.requests = []
    server.endless_done = threading.Event()
    server.endless_sent = 0
    if ssl_context is not None:
        # The handshake happens on first read, in the handler's thread, so a client that
        # rejects the certificate fails its own connection and nothing else.
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LoopbackServer(server.server_address[1], "https" if ssl_context else "http", server, server.requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    yield from _serve()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name ``localhost`` only (no IP address in it)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[LoopbackServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))
    yield from _serve(context)


@dataclass
class ConnectSpy:
    """Every ``anyio.connect_tcp`` call the egress makes, and where it would have gone."""

    calls: list[tuple[str, int]] = field(default_factory=list)
    # Test doubles for "public" addresses: connecting to the key reaches the value instead.
    stand_ins: dict[str, tuple[str, int]] = field(default_factory=dict)


@pytest.fixture(autouse=True)
def connect_spy(monkeypatch: pytest.MonkeyPatch) -> ConnectSpy:
    """Records each TCP connect, and refuses to open any that is not to loopback.

    httpcore's anyio backend opens every socket through ``anyio.connect_tcp``. Wrapping it
    lets a test assert a refused destination was never connected to, and guarantees that
    even a broken guard cannot make this suite contact anything outside this machine.
    """
    spy = ConnectSpy()
    real_connect = anyio.connect_tcp

    async def spying_connect(remote_host: Any, remote_port: int, **kwargs: Any) -> Any:
        host = str(remote_host)
        spy.calls.append((host, remote_port))
        if host in spy.stand_ins:
            host, remote_port = spy.stand_ins[host]
        if host not in LOOPBACK_HOSTS:
            raise OSError(f"test guard: refusing to connect to {host}:{remote_port}")
        return await real_connect(host, remote_port, **kwargs)

    monkeypatch.setattr(anyio, "connect_tcp", spying_connect)
    return spy


FakeResolver = Callable[[str, int], Awaitable[list[str]]]


def fake_resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> FakeResolver:
    """A resolver answering from ``table`` (names not in it do not exist)."""

    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host in table:
            return table[host]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    return resolve


@pytest.fixture
async def egress() -> AsyncIterator[Egress]:
    """An egress that may reach loopback, as tests must say explicitly."""
    async with Egress(LOOPBACK_POLICY) as instance:
        yield instance


@pytest.fixture
async def strict_egress() -> AsyncIterator[Egress]:
    """An egress with the production defaults for addresses, and short test timeouts."""
    policy = EgressPolicy(connect_timeout=2.0, read_timeout=2.0, write_timeout=2.0, total_timeout=4.0)
    async with Egress(policy) as instance:
        yield instance
