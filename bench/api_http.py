"""A minimal HTTP/1.1 client on raw asyncio streams, for load generation.

Why not httpx: on this 2-core machine an httpx client saturates a core at ~650 req/s, and
the load generator shares the cores with the server, so the client's own cost lands in the
numbers. This client writes pre-built request bytes on a keep-alive connection and parses
only what it must (status line, Content-Length / chunked framing, ``Connection: close``),
which costs a few tens of microseconds per request.

It times each reply from a caller-given start instant: the time to first event (TTFE) is
when the first ``data:`` SSE line arrives (streaming) or when the whole body has arrived
(blocking), and ``total`` is when the reply is complete.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
DATA_MARK = b"data:"
# uvicorn closes keep-alive connections idle for 5 s; a connection idle longer than this is
# not reused, so a request never races the server's close (a client artifact, not an error).
MAX_IDLE_S = 4.0


@dataclass
class Reply:
    status: int
    body: bytes
    ttfe: float  # seconds from the start instant to the first event (blocking: full body)
    total: float  # seconds from the start instant to the end of the reply


def build_post(port: int, path: str, payload: dict[str, Any], token: str) -> bytes:
    """The request bytes, built once and written as they are for every request of a run."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: */*\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


def build_get(port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()


class Connection:
    """One keep-alive connection; one request at a time on it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.closed = False
        self.used_at = time.perf_counter()

    @property
    def stale(self) -> bool:
        return self.closed or time.perf_counter() - self.used_at > MAX_IDLE_S

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        return cls(reader, writer)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._writer.close()

    async def request(self, raw: bytes, started: float | None = None) -> Reply:
        """Send ``raw`` and read the whole reply. ``started`` (a ``perf_counter`` value) is
        the instant latencies count from; an open-loop driver passes the scheduled send time
        so that queueing in the client is not hidden (coordinated omission)."""
        start = time.perf_counter() if started is None else started
        try:
            self._writer.write(raw)
            head = await self._reader.readuntil(b"\r\n\r\n")
            status, length, chunked, close = _parse_head(head)
            if chunked:
                body, first = await self._read_chunked()
            else:
                body = await self._reader.readexactly(length) if length else b""
                first = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.close()
            raise
        end = self.used_at = time.perf_counter()
        if close:
            self.close()
        ttfe = (first if first is not None else end) - start
        return Reply(status, body, ttfe, end - start)

    async def _read_chunked(self) -> tuple[bytes, float | None]:
        """The de-chunked body and when its first ``data:`` line arrived (None: never)."""
        parts: list[bytes] = []
        first: float | None = None
        reader = self._reader
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the empty line
                    pass
                return b"".join(parts), first
            chunk = await reader.readexactly(size + 2)
            if first is None and (chunk.startswith(DATA_MARK) or b"\ndata:" in chunk):
                first = time.perf_counter()
            parts.append(chunk[:-2])


def _parse_head(head: bytes) -> tuple[int, int, bool, bool]:
    """(status, content length, chunked?, connection close?) from the status line and headers."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    return status, length, chunked, close


def sse_events(body: bytes) -> list[str]:
    """The ``event`` names of the JSON payloads in an SSE body, in order (pings skipped)."""
    names: list[str] = []
    for line in body.split(b"\n"):
        if line.startswith(DATA_MARK):
            names.append(str(json.loads(line[len(DATA_MARK) :]).get("event")))
    return names


def sse_first_last(body: bytes) -> tuple[str, dict[str, Any]]:
    """The first event's name and the last event's payload: the cheap check made on every
    streamed reply under load (parsing every frame would take CPU from the server)."""
    first = body.find(DATA_MARK)
    last = body.rfind(b"\n" + DATA_MARK)
    if first < 0 or last < 0:
        return "", {}
    head = body[first : body.find(b"\n", first)]
    name = head.split(b'"event":"', 1)[1].split(b'"', 1)[0].decode() if b'"event":"' in head else ""
    payload: dict[str, Any] = json.loads(body[last + 1 + len(DATA_MARK) :])
    return name, payload


async def get_status(port: int, path: str) -> int:
    """Status of one GET on a fresh connection (readiness polling)."""
    connection = await Connection.open(port)
    try:
        return (await connection.request(build_get(port, path))).status
    finally:
        connection.close()
