"""GuardedTransport: an httpx transport whose every connection goes through the guard.

It is httpx's ``AsyncHTTPTransport`` reduced to what the egress needs, built on httpcore's
public API so that the connection pool can be given :class:`GuardedBackend` (httpx offers
no public way to pass a network backend). Besides the address guard in the backend, it
refuses URLs the egress never follows (schemes other than http/https, credentials in the
URL) and caps the bytes read from any one response. Because every redirect hop is a new
request through the transport, a redirect cannot escape any of these checks, whichever
client follows it: ``Egress`` or a vendor SDK's ``httpx.AsyncClient``.

Errors from httpcore are raised as the matching httpx exception, so vendor SDKs keep
their retry and timeout handling; refusals are raised as the egress's own errors.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterator

import httpcore
import httpx

from plait.egress.backend import GuardedBackend, Resolver
from plait.egress.errors import EgressBlocked, EgressTooLarge
from plait.egress.policy import EgressPolicy

ALLOWED_SCHEMES = frozenset({"http", "https"})

# Most specific first: the first match wins.
_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.ProxyError, httpx.ProxyError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        for source, target in _HTTPCORE_TO_HTTPX:
            if isinstance(error, source):
                raise target(str(error)) from error
        raise


def check_url(url: httpx.URL) -> None:
    """Refuse the URL forms the egress never fetches, before any connection."""
    if url.scheme not in ALLOWED_SCHEMES:
        if not url.scheme:
            raise EgressBlocked("egress needs an absolute URL with a host: only http and https")
        raise EgressBlocked(f"egress to {url.scheme}: URLs is refused: only http and https")
    if not url.host:
        raise EgressBlocked("egress to a URL without a host is refused")
    if url.userinfo:
        # Credentials in the URL are how "http://trusted@evil/" tricks confuse readers and
        # parsers; callers send credentials in headers instead.
        raise EgressBlocked("credentials in the URL are refused; send them in a header")


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport enforcing the egress policy on every connection and response."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 100,
        max_keepalive_connections: int = 20,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._max_bytes = policy.max_response_bytes
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=GuardedBackend(policy, resolver=resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_url(request.url)
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise TypeError("GuardedTransport needs an async request body")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            core_response = await self._pool.handle_async_request(core_request)
        assert isinstance(core_response.stream, AsyncIterable)
        body = _CappedStream(core_response.stream, self._max_bytes, request.url.host)
        declared = _content_length(core_response.headers)
        if declared is not None and declared > self._max_bytes:
            await body.aclose()
            raise body.too_large(f"declares {declared} bytes, over")
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=body,
            extensions=core_response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _CappedStream(httpx.AsyncByteStream):
    """A response body that stops reading, and fails, once it passes the cap.

    Raising mid-body makes the caller close the response, and httpcore then drops the
    connection instead of draining it: the rest of an oversized body is never read.
    """

    def __init__(self, stream: AsyncIterable[bytes], limit: int, host: str) -> None:
        self._stream = stream
        self._limit = limit
        self._host = host

    def too_large(self, what: str) -> EgressTooLarge:
        return EgressTooLarge(f"the response from {self._host} {what} the {self._limit} byte limit")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        with _httpx_errors():
            async for chunk in self._stream:
                received += len(chunk)
                if received > self._limit:
                    raise self.too_large("is larger than")
                yield chunk

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            with contextlib.suppress(ValueError):
                return int(value)
    return None
