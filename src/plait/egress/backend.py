"""The network backend that resolves a name once, vets every address, and connects to one.

httpcore asks its network backend to ``connect_tcp(host, port)`` for every new connection,
redirect hops included, and afterwards wraps the stream in TLS with the *hostname* as SNI
and as the name the certificate must match. So the SSRF check lives here, at the only
place a socket is opened, and DNS pinning comes for free: the name is resolved exactly
once, the addresses are vetted, and the socket is opened to a vetted address literal, so
there is no second lookup for a rebinding DNS server to answer differently. TLS still
verifies the certificate against the name the user asked for.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

import anyio
import httpcore

from plait.egress.addresses import IPAddress, parse_address
from plait.egress.errors import EgressBlocked
from plait.egress.policy import EgressPolicy

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""Resolves ``(host, port)`` to address literals, in the order to try them."""

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (``getaddrinfo``), run off the event loop.

    Numeric forms resolve here too (``2130706433``, ``0x7f.0.0.1`` and ``127.1`` become
    127.0.0.1), which is why the policy judges what this returns, not the host string.
    """
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Wraps httpcore's anyio backend; refuses unix sockets and forbidden addresses."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolve = resolver or system_resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # One deadline for resolving and connecting: a slow resolver is a slow connect.
        try:
            with anyio.fail_after(timeout):
                addresses = await self._vetted_addresses(host, port)
                return await self._connect_first(host, addresses, port, local_address, socket_options)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from None

    async def _vetted_addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            resolved = await self._resolve(host, port)
        except OSError as error:
            raise httpcore.ConnectError(f"could not resolve {host!r}: {error}") from error
        try:
            addresses = [parse_address(text) for text in resolved]
        except ValueError as error:
            raise httpcore.ConnectError(f"could not resolve {host!r}: {error}") from error
        if not addresses:
            raise httpcore.ConnectError(f"could not resolve {host!r}: no addresses")
        # Refuse when ANY address is forbidden: a name that mixes public and internal
        # addresses is an attack or a misconfiguration, and either way not ours to pick.
        for address in addresses:
            reason = self._policy.refusal(address)
            if reason is not None:
                shown = host if host == str(address) else f"{host} (resolves to {address})"
                raise EgressBlocked(f"egress to {shown} is refused: {reason}")
        return addresses

    async def _connect_first(
        self,
        host: str,
        addresses: list[IPAddress],
        port: int,
        local_address: str | None,
        socket_options: Iterable[SocketOption] | None,
    ) -> httpcore.AsyncNetworkStream:
        """Try the vetted addresses in resolver order; the first that answers wins."""
        failures: list[str] = []
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as error:
                failures.append(f"{address}: {error}")
        raise httpcore.ConnectError(f"could not connect to {host}:{port} ({'; '.join(failures)})")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressBlocked("egress to a unix socket is refused")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
