"""Size and time caps: a response cannot be larger, nor a call longer, than the policy says."""

from __future__ import annotations

import time

import pytest

from plait.egress import Egress, EgressPolicy, EgressTimeout, EgressTooLarge

from .conftest import LoopbackServer

MIB = 1024 * 1024


def capped(**changes: float) -> EgressPolicy:
    limits = {"connect_timeout": 2.0, "read_timeout": 2.0, "write_timeout": 2.0, "total_timeout": 4.0} | changes
    return EgressPolicy(allow_loopback=True, max_response_bytes=MIB, **limits)  # type: ignore[arg-type]


async def test_a_declared_oversized_body_is_refused(server: LoopbackServer) -> None:
    async with Egress(capped()) as egress:
        with pytest.raises(EgressTooLarge) as refused:
            await egress.request("GET", server.url(f"/bytes?n={2 * MIB}"))
    assert refused.value.code == "egress_response_too_large"
    assert refused.value.status == 502
    assert "declares 2097152 bytes" in refused.value.message


async def test_a_body_at_the_limit_is_fine(server: LoopbackServer) -> None:
    async with Egress(capped()) as egress:
        response = await egress.request("GET", server.url(f"/bytes?n={MIB}"))
    assert len(response.content) == MIB


async def test_an_undeclared_endless_body_stops_being_read(server: LoopbackServer) -> None:
    """No Content-Length, up to 1 GiB: the egress gives up just past 1 MiB and hangs up, so
    the server's writes fail long before it has sent its body."""
    started = time.monotonic()
    async with Egress(capped()) as egress:
        with pytest.raises(EgressTooLarge, match="larger than the 1048576 byte limit"):
            await egress.request("GET", server.url("/endless"))
    assert time.monotonic() - started < 2
    assert server.wait_endless_done(timeout=3), "the server kept writing after the egress gave up"
    assert server.endless_sent < 64 * MIB


async def test_the_cap_counts_decompressed_bytes(server: LoopbackServer) -> None:
    """A few KiB of gzip that inflate to 5 MiB must not get past a 1 MiB cap."""
    async with Egress(capped()) as egress:
        with pytest.raises(EgressTooLarge):
            await egress.request("GET", server.url(f"/gzip?n={5 * MIB}"))
        small = await egress.request("GET", server.url("/gzip?n=1000"))
    assert small.content == b"\0" * 1000


async def read_stream(egress: Egress, url: str, chunks: list[bytes], timeout: float | None = None) -> None:
    async with egress.stream("GET", url, timeout=timeout) as response:
        async for chunk in response:
            chunks.append(chunk)


async def test_streams_are_capped_too(server: LoopbackServer) -> None:
    chunks: list[bytes] = []
    async with Egress(capped()) as egress:
        with pytest.raises(EgressTooLarge):
            await read_stream(egress, server.url("/endless"), chunks)
    assert sum(map(len, chunks)) <= MIB


async def test_a_slow_server_times_out(server: LoopbackServer) -> None:
    started = time.monotonic()
    async with Egress(capped(read_timeout=0.3)) as egress:
        with pytest.raises(EgressTimeout) as timed_out:
            await egress.request("GET", server.url("/slow?seconds=3"))
    assert time.monotonic() - started < 1.5
    assert timed_out.value.code == "egress_timeout"
    assert timed_out.value.status == 504


async def test_a_trickling_server_hits_the_total_deadline(server: LoopbackServer) -> None:
    """One byte every 0.1 s never trips the 2 s read timeout; the total deadline stops it."""
    started = time.monotonic()
    async with Egress(capped(total_timeout=0.6)) as egress:
        with pytest.raises(EgressTimeout):
            await egress.request("GET", server.url("/trickle?n=100&every=0.1"))
    assert 0.5 < time.monotonic() - started < 1.5


async def test_the_deadline_can_be_set_per_call(server: LoopbackServer) -> None:
    started = time.monotonic()
    async with Egress(capped()) as egress:
        with pytest.raises(EgressTimeout):
            await egress.request("GET", server.url("/trickle?n=100&every=0.1"), timeout=0.3)
    assert time.monotonic() - started < 1.0


async def test_the_deadline_bounds_a_stream(server: LoopbackServer) -> None:
    chunks: list[bytes] = []
    async with Egress(capped()) as egress:
        with pytest.raises(EgressTimeout):
            await read_stream(egress, server.url("/trickle?n=100&every=0.1"), chunks, timeout=0.5)
    assert 0 < len(chunks) < 100


async def test_an_unanswered_connect_times_out(server: LoopbackServer) -> None:
    async def never(host: str, port: int) -> list[str]:
        await __import__("anyio").sleep(10)
        return []

    started = time.monotonic()
    async with Egress(capped(connect_timeout=0.3), resolver=never) as egress:
        with pytest.raises(EgressTimeout):
            await egress.request("GET", "http://slow-dns.example/")
    assert time.monotonic() - started < 1.5
