"""What an egress call returns: a read response, or an open stream of body chunks.

Both hide httpx: callers above the adapters layer must not import it (the one-exit rule),
so they get plain values and a case-insensitive ``headers`` mapping (repeated headers
joined with ", ", as RFC 9110 allows).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import httpx

from plait.egress.errors import EgressTooLarge


@dataclass(frozen=True, slots=True)
class EgressResponse:
    """A response read in full (within the size cap).

    ``url`` is the final URL after redirects; ``elapsed`` the seconds from sending the
    request to the end of the body.
    """

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    url: str
    elapsed: float
    encoding: str | None = None

    @property
    def text(self) -> str:
        """The body decoded with the declared charset, else UTF-8; bad bytes become U+FFFD."""
        try:
            return self.content.decode(self.encoding or "utf-8", errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return jsonlib.loads(self.content)


class EgressStream:
    """An open response whose body is read chunk by chunk (``async for chunk in stream``).

    Chunks are decoded (gzip, deflate...) and count against the size cap after decoding
    too, so a small compressed body cannot inflate past it. Each read is bounded by the
    call's total deadline. Only valid inside ``Egress.stream``'s ``async with`` block.
    """

    def __init__(
        self,
        response: httpx.Response,
        *,
        deadline: float,
        max_bytes: int,
        translated: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self._response = response
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._translated = translated
        self.status_code: int = response.status_code
        self.headers: Mapping[str, str] = response.headers
        self.url: str = str(response.url)
        self.encoding: str | None = response.charset_encoding

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        chunks = self._response.aiter_bytes()
        while True:
            with self._translated():
                async with asyncio.timeout_at(self._deadline):
                    chunk = await anext(chunks, None)
            if chunk is None:
                return
            received += len(chunk)
            if received > self._max_bytes:
                raise EgressTooLarge(
                    f"the response from {self._response.url.host} is larger than the {self._max_bytes} byte limit"
                )
            yield chunk

    async def aread(self) -> bytes:
        """The rest of the body, within the size cap."""
        return b"".join([chunk async for chunk in self])
