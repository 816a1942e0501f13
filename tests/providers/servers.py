"""A scripted HTTP server on 127.0.0.1 that speaks the vendors' wire formats, for the
provider adapter tests.

It is a raw asyncio HTTP/1.1 server (keep-alive, ``Content-Length`` request bodies)
because the tests need what a framework hides: a reply that stalls before its headers,
and a server-sent-event stream that is cut off in the middle of its chunked body. Each
request takes the next :class:`Reply` from the script (or 500 when the script is empty)
and is recorded, body included, so a test can assert what the adapter sent.

The ``openai_*`` and ``anthropic_*`` builders write the Chat Completions, Embeddings and
Messages formats (blocking JSON and SSE) with scripted content.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """One scripted response. ``events`` makes it a chunked SSE stream, one chunk per event;
    ``cut_after`` drops the connection after that many events, mid-body; ``delay`` stalls
    before the status line (a slow server)."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    events: tuple[bytes, ...] | None = None
    cut_after: int | None = None
    delay: float = 0.0

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def sse(cls, events: Iterable[bytes], *, cut_after: int | None = None) -> Reply:
        return cls(events=tuple(events), cut_after=cut_after)


class ScriptedServer:
    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def bodies(self) -> list[Any]:
        return [request.json() for request in self.requests]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            # A client hanging up (or the test ending) ends the connection; a cancelled
            # handler must not fail asyncio's callback that reports it.
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Recorded(method, path, headers, body))
        reply = self.script.popleft() if self.script else Reply.json({"error": "no scripted reply"}, 500)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.events is None:
            writer.write(_head(reply.status, {"Content-Length": str(len(reply.body)), **reply.headers}))
            writer.write(reply.body)
            await writer.drain()
            return True
        writer.write(_head(reply.status, {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}))
        for index, event in enumerate(reply.events):
            if index == reply.cut_after:
                await writer.drain()
                writer.transport.abort()
                return False
            writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests", 500: "Server Error"}


def _head(status: int, headers: Mapping[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- OpenAI Chat Completions and Embeddings -------------------------------------------


def openai_completion(
    text: str | None = "",
    *,
    tool_calls: Sequence[tuple[str, str, str]] = (),
    reasoning: str | None = None,
    finish_reason: str = "stop",
    usage: tuple[int, int] | None = (11, 7),
) -> dict[str, Any]:
    """A blocking chat completion; ``tool_calls`` are ``(id, name, arguments)``."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [
            {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}
            for id_, name, arguments in tool_calls
        ]
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    completion: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    if usage is not None:
        completion["usage"] = _openai_usage(*usage)
    return completion


def openai_chunk(
    *,
    content: str | None = None,
    reasoning: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    usage: tuple[int, int] | None = None,
    role: str | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``usage`` alone makes the choice-less usage chunk."""
    chunk: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "scripted"}
    if usage is not None:
        chunk["choices"] = []
        chunk["usage"] = _openai_usage(*usage)
        return chunk
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    return chunk


def tool_fragment(
    index: int, *, id: str | None = None, name: str | None = None, arguments: str | None = None
) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": index, "function": {}}
    if id is not None:
        fragment["id"] = id
        fragment["type"] = "function"
    if name is not None:
        fragment["function"]["name"] = name
    if arguments is not None:
        fragment["function"]["arguments"] = arguments
    return fragment


def openai_sse(chunks: Iterable[dict[str, Any]], *, done: bool = True) -> list[bytes]:
    frames = [f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks]
    return [*frames, b"data: [DONE]\n\n"] if done else frames


def openai_text_stream(*pieces: str, usage: tuple[int, int] | None = (11, 7)) -> list[bytes]:
    chunks = [openai_chunk(role="assistant", content="")]
    chunks += [openai_chunk(content=piece) for piece in pieces]
    chunks.append(openai_chunk(finish_reason="stop"))
    if usage is not None:
        chunks.append(openai_chunk(usage=usage))
    return openai_sse(chunks)


def openai_embeddings(vectors: Sequence[Sequence[float]], *, prompt_tokens: int = 5) -> dict[str, Any]:
    # Listed out of order on purpose: clients must place vectors by ``index``.
    data = [{"object": "embedding", "index": i, "embedding": list(v)} for i, v in enumerate(vectors)]
    return {
        "object": "list",
        "data": list(reversed(data)),
        "model": "scripted-embedding",
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def openai_error(
    status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None, **headers: str
) -> Reply:
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return Reply.json(body, status, {name.replace("_", "-"): value for name, value in headers.items()})


def _openai_usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# --- Anthropic Messages ----------------------------------------------------------------


def anthropic_message(
    blocks: Sequence[dict[str, Any]], *, stop_reason: str = "end_turn", usage: tuple[int, int] = (12, 6)
) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-scripted",
        "content": list(blocks),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def anthropic_sse(events: Iterable[tuple[str, dict[str, Any]]]) -> list[bytes]:
    return [f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode() for name, data in events]


def anthropic_stream(
    blocks: Sequence[tuple[dict[str, Any], Sequence[dict[str, Any]]]],
    *,
    stop_reason: str = "end_turn",
    usage: tuple[int, int] = (12, 6),
) -> list[bytes]:
    """A streamed message: each block is ``(content_block_start block, [deltas])``."""
    message = anthropic_message([], stop_reason=None, usage=(usage[0], 1))  # type: ignore[arg-type]
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"message": message}), ("ping", {})]
    for index, (start, deltas) in enumerate(blocks):
        events.append(("content_block_start", {"index": index, "content_block": start}))
        events += [("content_block_delta", {"index": index, "delta": delta}) for delta in deltas]
        events.append(("content_block_stop", {"index": index}))
    events.append(
        (
            "message_delta",
            {"delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": {"output_tokens": usage[1]}},
        )
    )
    events.append(("message_stop", {}))
    return anthropic_sse(events)


def text_block(*pieces: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return {"type": "text", "text": ""}, [{"type": "text_delta", "text": piece} for piece in pieces]


def thinking_block(*pieces: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    deltas = [{"type": "thinking_delta", "thinking": piece} for piece in pieces]
    return {"type": "thinking", "thinking": "", "signature": ""}, [
        *deltas,
        {"type": "signature_delta", "signature": "sig"},
    ]


def tool_use_block(id: str, name: str, *json_pieces: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in json_pieces]
    return {"type": "tool_use", "id": id, "name": name, "input": {}}, deltas


def anthropic_error(status: int, type: str, message: str, **headers: str) -> Reply:
    body = {"type": "error", "error": {"type": type, "message": message}}
    return Reply.json(body, status, {name.replace("_", "-"): value for name, value in headers.items()})


# --- rerank (Cohere, Jina, vLLM...) ----------------------------------------------------------


def rerank_results(*scores: tuple[int, float]) -> dict[str, Any]:
    """A rerank reply listing ``(index, relevance_score)`` in the order given."""
    return {
        "id": "rr-1",
        "results": [{"index": index, "relevance_score": score} for index, score in scores],
        "meta": {"billed_units": {"search_units": 1}},
    }
