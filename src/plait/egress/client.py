"""Egress: THE outbound HTTP client of Plait.

Every request that leaves Plait (HTTP-request nodes, tools, remote files, MCP, model
endpoints a user configures) goes through an :class:`Egress`, and a test fails if any other
module opens a socket or an HTTP client. One exit means one place to get SSRF right:

- only http/https, no credentials in the URL, no proxies from the environment;
- the host is resolved once, every address is vetted by the :class:`EgressPolicy`, and the
  socket connects to a vetted address while TLS verifies the certificate for the name;
- every redirect hop goes through the same check, at most ``max_redirects`` of them;
- bodies are capped in bytes, and calls in time (connect/read/write and a total deadline);
- no cookie is kept between calls, so nothing one tenant receives rides on another's request.

Vendor SDKs that want their own ``httpx.AsyncClient`` get a guarded transport from
:meth:`Egress.transport`. httpx and httpcore errors never leave this package; callers see
the :mod:`plait.egress.errors` tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any

import httpx

from plait.egress.backend import Resolver
from plait.egress.errors import EgressBlocked, EgressError, EgressFailed, EgressTimeout
from plait.egress.httpx2_bridge import httpx2_client
from plait.egress.policy import EgressPolicy
from plait.egress.response import EgressResponse, EgressStream
from plait.egress.transport import GuardedTransport, check_url
from plait.errors import ConfigurationError

Params = Mapping[str, str | int | float | bool | list[str | int | float | bool | None] | None]
Files = Mapping[str, bytes | tuple[str, bytes] | tuple[str, bytes, str]]


class Egress:
    """The outbound HTTP client. Build one per process and share it; ``aclose`` at the end.

    ``resolver`` replaces the system resolver (tests, or a DNS-over-HTTPS resolver later);
    ``ssl_context`` adds trust (a private CA) but may not turn verification off.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if ssl_context is not None and (ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname):
            raise ConfigurationError("the egress SSL context must verify certificates and hostnames")
        self.policy = policy
        self._resolver = resolver
        self._ssl_context = ssl_context
        self._client = httpx.AsyncClient(
            transport=self.transport(),
            trust_env=False,
            timeout=httpx.Timeout(
                connect=policy.connect_timeout,
                read=policy.read_timeout,
                write=policy.write_timeout,
                pool=policy.connect_timeout,
            ),
            max_redirects=policy.max_redirects,
            headers={"User-Agent": policy.user_agent},
            cookies=_no_cookies(),
        )

    def transport(self) -> httpx.AsyncBaseTransport:
        """A new guarded transport for a vendor SDK's client:
        ``httpx.AsyncClient(transport=egress.transport(), trust_env=False)``.

        It enforces the address guard, the schemes and the size cap on every hop; the time
        limits and the redirect cap are that client's own settings. The client owns the
        transport and closes it.
        """
        return GuardedTransport(self.policy, resolver=self._resolver, ssl_context=self._ssl_context)

    def sdk_client(self, *, timeout: float | None = None) -> httpx.AsyncClient:
        """A new guarded ``httpx.AsyncClient`` for a vendor SDK (``openai``, ``anthropic``,
        ``mcp``): the address guard and size cap of :meth:`transport`, no proxies or cookies
        from anywhere, redirects not followed. ``timeout`` bounds each read (a streamed
        model reply may run longer than the policy's total deadline, one chunk at a time).
        The caller owns the client and closes it."""
        read = self.policy.read_timeout if timeout is None else timeout
        return httpx.AsyncClient(
            transport=self.transport(),
            trust_env=False,
            timeout=httpx.Timeout(
                connect=self.policy.connect_timeout, read=read, write=self.policy.write_timeout, pool=read
            ),
            follow_redirects=False,
            headers={"User-Agent": self.policy.user_agent},
            cookies=_no_cookies(),
        )

    def httpx2_client(self, *, timeout: float | None = None) -> Any:
        """:meth:`sdk_client`, for SDKs built on ``httpx2`` (``anthropic``, ``mcp``): an
        ``httpx2.AsyncClient`` whose one transport sends through the guarded client."""
        return httpx2_client(self.sdk_client(timeout=timeout))

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
        content: bytes | str | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Files | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (a deadline for the whole call, redirects included)
        follow_redirects: bool = True,
    ) -> EgressResponse:
        """Send a request and read the whole response (within the size cap).

        ``timeout`` is the total deadline in seconds for the call, redirects and body
        included (the policy's ``total_timeout`` when None). An HTTP error status is a
        response, not an exception; refusals and failures raise :class:`EgressError`.
        """
        started = time.monotonic()
        async with self.stream(
            method,
            url,
            headers=headers,
            params=params,
            content=content,
            json=json,
            data=data,
            files=files,
            timeout=timeout,
            follow_redirects=follow_redirects,
        ) as response:
            body = await response.aread()
        return EgressResponse(
            status_code=response.status_code,
            headers=response.headers,
            content=body,
            url=response.url,
            elapsed=time.monotonic() - started,
            encoding=response.encoding,
        )

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
        content: bytes | str | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Files | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (a deadline for the whole call, redirects included)
        follow_redirects: bool = True,
    ) -> AsyncIterator[EgressStream]:
        """Send a request and yield the open response, to read its body chunk by chunk::

            async with egress.stream("POST", url, json=body) as response:
                async for chunk in response:
                    ...

        Same arguments and limits as :meth:`request`; the response is closed on exit.
        """
        deadline = asyncio.get_running_loop().time() + (self.policy.total_timeout if timeout is None else timeout)
        with _translated(f"{method} request"):
            request = self._client.build_request(
                method, url, headers=headers, params=params, content=content, json=json, data=data, files=files
            )
            check_url(request.url)
        # Named by origin only: paths and queries may carry secrets (API keys in a query).
        translated = functools.partial(_translated, f"{method} {request.url.scheme}://{request.url.netloc.decode()}")
        with translated():
            async with asyncio.timeout_at(deadline):
                response = await self._client.send(request, stream=True, follow_redirects=follow_redirects)
        try:
            yield EgressStream(
                response, deadline=deadline, max_bytes=self.policy.max_response_bytes, translated=translated
            )
        finally:
            with translated():
                await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Egress:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing.

    One Egress serves every tenant and every workflow: a cookie one of them receives must
    not ride along on another's request to the same host. Callers who need a cookie send
    a ``Cookie`` header.
    """
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


@contextlib.contextmanager
def _translated(call: str) -> Iterator[None]:
    """httpx's errors, and the deadline's, as the egress error tree; ``call`` names the call."""
    try:
        yield
    except EgressError:
        raise
    except (httpx.TimeoutException, TimeoutError) as error:
        raise EgressTimeout(f"{call} timed out{_detail(error)}") from error
    except httpx.TooManyRedirects as error:
        raise EgressFailed(f"{call} failed: too many redirects{_detail(error)}") from error
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
        raise EgressBlocked(f"{call} refused: invalid URL{_detail(error)}") from error
    except httpx.ConnectError as error:
        certificate = _certificate_error(error)
        if certificate is not None:
            raise EgressFailed(
                f"{call} failed: TLS certificate verification failed: {certificate.verify_message}"
            ) from error
        raise EgressFailed(f"{call} failed: could not connect{_detail(error)}") from error
    except (httpx.HTTPError, httpx.StreamError) as error:
        raise EgressFailed(f"{call} failed{_detail(error)}") from error


def _detail(error: BaseException) -> str:
    text = str(error)
    return f": {text}" if text else ""


def _certificate_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
