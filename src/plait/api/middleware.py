"""Per-request context: request id, response headers, body size cap, access log, and the
last line of defence that turns an unexpected exception into a 500 envelope."""

from __future__ import annotations

import json
import re
import time
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plait.errors import PayloadTooLarge

log = structlog.get_logger("plait.http")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
QUIET_PATHS = frozenset({"/health", "/ready"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContext:
    def __init__(self, app: ASGIApp, *, version: str, env: str, max_body_bytes: int) -> None:
        self.app = app
        self.version = version
        self.env = env
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = given if given and _VALID_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-Id"] = request_id
                headers["X-Version"] = self.version
                headers["X-Env"] = self.env
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                declared = _header(scope, b"content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                    await self._send_error(send_with_headers, 413, "payload_too_large", self._too_large_message())
                    return
                await self.app(scope, self._limited(receive), send_with_headers)
            except Exception:
                log.exception("http.unhandled_error", method=scope["method"], path=scope["path"])
                if not response_started:
                    await self._send_error(send_with_headers, 500, "unknown", "Internal Server Error")
            finally:
                path = scope["path"]
                (log.debug if path in QUIET_PATHS else log.info)(
                    "http.request",
                    method=scope["method"],
                    path=path,
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )

    def _too_large_message(self) -> str:
        return f"Request body is larger than {self.max_body_bytes} bytes."

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise PayloadTooLarge(self._too_large_message())
            return message

        return limited_receive

    @staticmethod
    async def _send_error(send: Send, status: int, code: str, message: str) -> None:
        body = json.dumps({"code": code, "message": message, "status": status}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
