"""The HTTP client tools receive, and how its failures read as tool errors.

Tools never open a connection themselves (only ``plait.egress`` may): whoever builds a
tool passes a client with the shape of ``plait.egress.Egress.request``. The egress vets
every address, redirect, size and deadline; its errors are ``PlaitError``s that this
layer may not import by name (``egress`` and ``tools`` are siblings), so they are
recognised by their codes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from email.message import Message
from typing import Any, Protocol

from plait.errors import PlaitError
from plait.tools.errors import ToolCallFailed, ToolError, ToolTimeout


class HttpResponse(Protocol):
    """A response read in full; ``headers`` looks names up case-insensitively (as the egress's do)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class HttpClient(Protocol):
    """``plait.egress.Egress``, as far as tools use it."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = ...,
        params: Any = ...,
        content: bytes | str | None = ...,
        json: Any = ...,
        data: Any = ...,
        timeout: float | None = ...,  # noqa: ASYNC109 (the egress client's per-call deadline)
    ) -> HttpResponse: ...


def media_type(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """The ``Content-Type`` as (lower-cased media type, charset or None)."""
    message = Message()
    message["content-type"] = headers.get("content-type", "")
    charset = message.get_content_charset()
    raw = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return raw, charset


def decoded_text(response: HttpResponse) -> str:
    """The body as text: the declared charset, else UTF-8; undecodable bytes become U+FFFD."""
    _, charset = media_type(response.headers)
    try:
        return response.content.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return response.content.decode("utf-8", errors="replace")


def is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


@contextlib.contextmanager
def http_errors(tool: str) -> Iterator[None]:
    """Turns the HTTP client's errors into tool errors that name ``tool``.

    The egress's messages name the origin only (never the path or query, which may carry
    an API key), so they are safe to pass on to the workflow's author.
    """
    try:
        yield
    except ToolError:
        raise
    except TimeoutError:
        raise ToolTimeout(f"tool {tool!r} timed out") from None
    except PlaitError as error:
        if error.status == 504 or error.code.endswith("timeout"):
            raise ToolTimeout(f"tool {tool!r}: {error.message}") from error
        raise ToolCallFailed(f"tool {tool!r}: {error.message}", retryable=error.code == "egress_failed") from error
