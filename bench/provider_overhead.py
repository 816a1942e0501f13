"""What Plait adds to a streamed model call: from the provider sending its first token to
Plait's first SSE event carrying it.

A scripted OpenAI-compatible model server on loopback streams each reply (after a pause, as
a model takes before its first token: ``--first-token-delay-ms``); its first token
is the server's clock (``time.perf_counter_ns()``, CLOCK_MONOTONIC, shared by processes on
one machine) at the instant it writes it. A chat app on a real ``plait serve`` uses that
server as a custom ``openai_api_compatible`` model (configured through the console API, as
an operator would). The client reads the stream and notes when the ``message`` event with
that token arrives: that gap is loopback + Plait. The same client reading the model
server directly gives loopback alone; the difference of the medians is Plait's overhead.

    .venv/bin/python bench/provider_overhead.py [--requests 300] [--shape sqlite|postgres]

Prints one JSON line per path and one with the overhead:
``{"bench": "provider_overhead", "path": "plait"|"direct", "p50_ms", "p99_ms", ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from api_http import build_post
from api_server import PLAIT, SETUP, _cli, _stop, _wait_ready, free_port

OWNER = {"email": "bench@example.com", "password": "bench-passw0rd1"}
CHAT_DSL = """\
version: "0.3.0"
kind: app
app: {name: Overhead, mode: chat}
model_config:
  model: {provider: openai_api_compatible, name: bench-model, mode: chat, completion_params: {}}
  pre_prompt: ""
  user_input_form: []
"""
TAIL_TOKENS = (" and", " the", " rest", " of", " the", " reply")


class TokenServer:
    """A raw asyncio OpenAI Chat Completions server: every reply is a stream whose first
    content delta is the send instant in nanoseconds."""

    def __init__(self, first_token_delay: float) -> None:
        self.port = 0
        self.first_token_delay = first_token_delay
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                await writer.drain()
                # A model thinks before its first token; without this pause the first token
                # would land while the client is still reading the headers.
                await asyncio.sleep(self.first_token_delay)
                self._chunk(writer, _delta(f"@{time.perf_counter_ns()}@"))
                await writer.drain()
                for token in TAIL_TOKENS:
                    self._chunk(writer, _delta(token))
                self._chunk(
                    writer,
                    {
                        "id": "c",
                        "object": "chat.completion.chunk",
                        "created": 1,
                        "model": "m",
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    },
                )
                self._chunk(
                    writer,
                    {
                        "id": "c",
                        "object": "chat.completion.chunk",
                        "created": 1,
                        "model": "m",
                        "choices": [],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10},
                    },
                )
                writer.write(_framed(b"data: [DONE]\n\n") + b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the benchmark is shutting the server down
        finally:
            writer.close()

    @staticmethod
    def _chunk(writer: asyncio.StreamWriter, payload: dict[str, Any]) -> None:
        writer.write(_framed(b"data: " + json.dumps(payload).encode() + b"\n\n"))


def _delta(text: str) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


def _framed(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Stream:
    """One keep-alive connection that reads chunked streams frame by frame, noting when
    the stamped token arrives."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> Stream:
        return cls(*await asyncio.open_connection("127.0.0.1", port, limit=1 << 20))

    def close(self) -> None:
        self._writer.close()

    async def gap(self, raw: bytes) -> float:
        """Send ``raw``; seconds from the model server stamping its first token to this
        process reading it."""
        self._writer.write(raw)
        head = await self._reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"unexpected reply: {head[:200]!r}")
        gap: float | None = None
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                break
            chunk = await self._reader.readexactly(size + 2)
            if gap is None and b"@" in chunk:
                arrived = time.perf_counter_ns()
                gap = (arrived - int(chunk.split(b"@", 2)[1])) / 1e9
        if gap is None:
            raise RuntimeError("the stamped token never arrived")
        return gap


async def measure(port: int, raw: bytes, requests: int, warmup: int) -> list[float]:
    stream = await Stream.open(port)
    gaps: list[float] = []
    try:
        for index in range(warmup + requests):
            gap = await stream.gap(raw)
            if index >= warmup:
                gaps.append(gap)
    finally:
        stream.close()
    return gaps


def summary(path: str, gaps: list[float]) -> dict[str, Any]:
    ordered = sorted(gaps)
    return {
        "bench": "provider_overhead",
        "path": path,
        "samples": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
        "min_ms": round(ordered[0] * 1000, 3),
    }


def _configure_model(port: int, model_port: int) -> None:
    base = f"http://127.0.0.1:{port}/console/api"
    with httpx.Client(timeout=30) as client:
        token = client.post(f"{base}/login", json=OWNER).json()["data"]["access_token"]
        saved = client.post(
            f"{base}/workspaces/current/model-providers/openai_api_compatible/models",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "model": "bench-model",
                "model_type": "llm",
                "credentials": {"endpoint_url": f"http://127.0.0.1:{model_port}/v1", "api_key": "bench-key"},
            },
        )
        saved.raise_for_status()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--shape", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--first-token-delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    if args.shape != "sqlite":
        raise SystemExit("only the sqlite shape is wired here; the overhead does not touch the database per token")

    model = TokenServer(args.first_token_delay_ms / 1000)
    await model.start()
    temp = Path(tempfile.mkdtemp(prefix="plait-bench-overhead-"))
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "PLAIT_DATA_DIR": str(temp / "data"),
        "LOG_LEVEL": "WARNING",
        "PLAIT_LOG_FORMAT": "json",
        "PLAIT_EGRESS_ALLOW_LOOPBACK": "true",
    }
    port = free_port()
    log = temp / "serve.log"
    with log.open("wb") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(  # noqa: ASYNC220 (started once, before anything is measured)
            [str(PLAIT), "serve", "--port", str(port)], env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=temp
        )
    try:
        await asyncio.to_thread(_wait_ready, process, port, log)
        await asyncio.to_thread(_cli, env, SETUP)
        await asyncio.to_thread(_configure_model, port, model.port)
        app_id = await asyncio.to_thread(_cli, env, ["apps", "import", "-", "--publish"], CHAT_DSL)
        key = await asyncio.to_thread(_cli, env, ["keys", "create", app_id])

        through_plait = build_post(
            port, "/v1/chat-messages", {"query": "go", "inputs": {}, "user": "bench", "response_mode": "streaming"}, key
        )
        direct = build_post(
            model.port,
            "/v1/chat/completions",
            {"model": "bench-model", "messages": [{"role": "user", "content": "go"}], "stream": True},
            "bench-key",
        )
        direct_gaps = await measure(model.port, direct, args.requests, args.warmup)
        plait_gaps = await measure(port, through_plait, args.requests, args.warmup)
    finally:
        _stop(process)
        await model.close()
        shutil.rmtree(temp, ignore_errors=True)

    plait_line, direct_line = summary("plait", plait_gaps), summary("direct", direct_gaps)
    print(json.dumps(direct_line))
    print(json.dumps(plait_line))
    overhead = {
        "bench": "provider_overhead",
        "path": "overhead",
        "p50_ms": round(plait_line["p50_ms"] - direct_line["p50_ms"], 3),
        "target_p50_ms": 2.0,
    }
    print(json.dumps(overhead))


if __name__ == "__main__":
    asyncio.run(main())
