"""Carries an ``httpx2`` SDK's requests over the egress's guarded ``httpx`` client.

Some SDKs (``anthropic`` 2.x, ``mcp`` 2.x) are built on ``httpx2`` and refuse an
``httpx.AsyncClient``. Rather than let them make clients of their own (a second way out,
past the SSRF guard), they get an ``httpx2.AsyncClient`` whose one transport hands every
request to a client from :meth:`plait.egress.Egress.sdk_client`: each connection is still
resolved, vetted and capped by the egress, and nothing here opens a socket.

Time limits are the egress client's; the SDK's per-request timeout is not forwarded.
Errors are passed up as they come (``httpx`` errors and the egress's own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx2


class EgressBridge(httpx2.AsyncBaseTransport):
    """An ``httpx2`` transport that sends through ``client`` (an ``httpx.AsyncClient``)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        outbound = self._client.build_request(
            request.method, str(request.url), headers=request.headers.multi_items(), content=await request.aread()
        )
        response = await self._client.send(outbound, stream=True)
        # Raw bytes: the content-encoding header goes along, and httpx2 decodes once.
        return httpx2.Response(response.status_code, headers=response.headers.multi_items(), stream=_Body(response))

    async def aclose(self) -> None:
        await self._client.aclose()


class _Body(httpx2.AsyncByteStream):
    def __init__(self, response: Any) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.aiter_raw():
            yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


def httpx2_client(client: Any) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` for an SDK, sending through ``client`` (an egress
    ``httpx.AsyncClient``); closing it closes ``client``."""
    return httpx2.AsyncClient(
        transport=EgressBridge(client),
        # Without this httpx2 would mount its own transports for proxies named in the
        # environment, and those would connect past the egress.
        trust_env=False,
        follow_redirects=False,
        # The egress keeps no cookies between calls; neither does this client.
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )
