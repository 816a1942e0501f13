"""NUL characters (U+0000) are refused at the door, with Dify's 400 ``invalid_param``.

PostgreSQL stores no NUL in text or JSON (SQLite does), so a NUL in a query parameter or a
JSON body would otherwise end in a 500 on one backend and work on the other, often after
part of the request's work is done (a streamed chat turn fails mid-stream). Checked here
once: the path, the query string, and ``\\u0000`` escapes in JSON bodies as they arrive.
Multipart bodies are not scanned: uploaded files may hold any bytes.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plait.api.errors import envelope
from plait.errors import InvalidInput

MESSAGE = "Text must not contain NUL characters (\\u0000)."
# A \u0000 escape whose backslash is not itself escaped (an even run of backslashes before it).
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_CARRY = 64  # bytes of the previous chunk kept, so an escape split across chunks is seen


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


class NulCharacterGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            await envelope("invalid_param", MESSAGE, 400)(scope, receive, send)
            return
        await self.app(scope, self._scanned(receive) if _is_json(scope) else receive, send)

    @staticmethod
    def _scanned(receive: Receive) -> Receive:
        carry = b""

        async def scanned_receive() -> Message:
            nonlocal carry
            message = await receive()
            if message["type"] == "http.request":
                window = carry + message.get("body", b"")
                if _ESCAPED_NUL.search(window):
                    raise InvalidInput(MESSAGE)
                carry = window[-_CARRY:]
            return message

        return scanned_receive
