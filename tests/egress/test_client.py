"""What the egress is for: ordinary requests to an allowed server, round-tripped."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from plait.egress import Egress, EgressBlocked, EgressFailed, EgressPolicy, EgressTooLarge
from plait.errors import ConfigurationError, PlaitError

from .conftest import LOOPBACK_POLICY, ConnectSpy, LoopbackServer


async def test_get_round_trips_params_headers_and_status(egress: Egress, server: LoopbackServer) -> None:
    response = await egress.request(
        "GET", server.url("/echo"), params={"q": "plait", "n": 3, "tag": ["a", "b"]}, headers={"X-Trace": "t-1"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["Content-Type"] == "application/json"
    echo = response.json()
    assert echo["method"] == "GET"
    assert echo["query"] == {"q": ["plait"], "n": ["3"], "tag": ["a", "b"]}
    assert echo["headers"]["x-trace"] == "t-1"
    assert echo["headers"]["user-agent"] == "Plait"
    assert response.url == server.url("/echo?q=plait&n=3&tag=a&tag=b")
    assert response.elapsed > 0
    assert '"method": "GET"' in response.text


@pytest.mark.parametrize("status", [201, 204, 400, 404, 500, 503])
async def test_error_statuses_are_responses_not_exceptions(egress: Egress, server: LoopbackServer, status: int) -> None:
    response = await egress.request("GET", server.url(f"/echo?status={status}"))
    assert response.status_code == status


async def test_post_json(egress: Egress, server: LoopbackServer) -> None:
    response = await egress.request("POST", server.url("/echo"), json={"query": "hello", "n": [1, 2]})
    echo = response.json()
    assert echo["method"] == "POST"
    assert echo["headers"]["content-type"] == "application/json"
    assert echo["body"] == '{"query":"hello","n":[1,2]}'


async def test_post_form(egress: Egress, server: LoopbackServer) -> None:
    response = await egress.request("POST", server.url("/echo"), data={"name": "plait", "kind": "app"})
    echo = response.json()
    assert echo["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert echo["body"] == "name=plait&kind=app"


async def test_post_multipart(egress: Egress, server: LoopbackServer) -> None:
    response = await egress.request(
        "POST", server.url("/echo"), data={"purpose": "rag"}, files={"file": ("notes.txt", b"hello file", "text/plain")}
    )
    echo = response.json()
    assert echo["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert 'name="purpose"' in echo["body"]
    assert 'filename="notes.txt"' in echo["body"]
    assert "hello file" in echo["body"]


async def test_raw_content_and_other_methods(egress: Egress, server: LoopbackServer) -> None:
    for method in ("PUT", "PATCH", "DELETE"):
        response = await egress.request(method, server.url("/echo"), content=b"raw body")
        assert response.json()["method"] == method
        assert response.json()["body"] == "raw body"


async def test_headers_can_override_the_user_agent(egress: Egress, server: LoopbackServer) -> None:
    response = await egress.request("GET", server.url("/echo"), headers={"User-Agent": "custom"})
    assert response.json()["headers"]["user-agent"] == "custom"


async def test_streaming_yields_chunks_as_they_come(egress: Egress, server: LoopbackServer) -> None:
    async with egress.stream("GET", server.url("/chunks?n=5")) as response:
        assert response.status_code == 200
        chunks = [chunk async for chunk in response]
    assert b"".join(chunks) == b"".join(f"chunk-{index};".encode() for index in range(5))
    assert len(chunks) >= 2


async def test_a_stream_refused_before_it_starts(strict_egress: Egress, server: LoopbackServer) -> None:
    with pytest.raises(EgressBlocked):
        async with strict_egress.stream("GET", server.url("/chunks?n=2")):
            pytest.fail("a refused stream must not open")
    assert server.requests == []


async def test_a_refused_port_fails_cleanly(egress: Egress) -> None:
    with pytest.raises(EgressFailed) as failed:
        await egress.request("GET", "http://127.0.0.1:9/")
    assert failed.value.code == "egress_failed"
    assert failed.value.status == 502
    assert isinstance(failed.value, PlaitError)
    assert not isinstance(failed.value.__cause__, PlaitError)  # the httpx error is only the cause


async def test_tls_rejects_an_untrusted_certificate(
    egress: Egress, tls_server: LoopbackServer, connect_spy: ConnectSpy
) -> None:
    with pytest.raises(EgressFailed, match="TLS certificate verification failed"):
        await egress.request("GET", tls_server.url("/echo", host="localhost"))
    assert tls_server.requests == []


async def test_tls_verifies_the_name_while_connecting_to_the_pinned_address(
    tls_server: LoopbackServer, certificate: tuple[Path, Path], connect_spy: ConnectSpy
) -> None:
    """The socket goes to 127.0.0.1, yet the certificate is checked for "localhost", the name
    in the URL; the same server by its address fails, as the certificate does not name it."""
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    async with Egress(LOOPBACK_POLICY, ssl_context=trusted) as egress:
        response = await egress.request("GET", tls_server.url("/echo", host="localhost"))
        assert response.status_code == 200
        assert ("127.0.0.1", tls_server.port) in connect_spy.calls
        assert all(host != "localhost" for host, _ in connect_spy.calls)
        with pytest.raises(EgressFailed, match="TLS certificate verification failed"):
            await egress.request("GET", tls_server.url("/echo", host="127.0.0.1"))


def test_verification_cannot_be_turned_off() -> None:
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    with pytest.raises(ConfigurationError):
        Egress(LOOPBACK_POLICY, ssl_context=unverified)


async def test_transport_serves_a_plain_httpx_client(egress: Egress, server: LoopbackServer) -> None:
    async with httpx.AsyncClient(transport=egress.transport(), trust_env=False) as client:
        response = await client.post(server.url("/echo"), json={"model": "m"})
    assert response.status_code == 200
    assert response.json()["body"] == '{"model":"m"}'


async def test_transport_enforces_the_same_guard(server: LoopbackServer, connect_spy: ConnectSpy) -> None:
    async with (
        Egress(EgressPolicy()) as strict,
        httpx.AsyncClient(transport=strict.transport(), trust_env=False) as client,
    ):
        for url in (server.url("/echo"), "http://169.254.169.254/", "http://[::ffff:7f00:1]/", "file:///etc/passwd"):
            with pytest.raises(EgressBlocked):
                await client.get(url)
    assert connect_spy.calls == []
    assert server.requests == []


async def test_transport_rechecks_redirects_and_caps_size(egress: Egress, server: LoopbackServer) -> None:
    capped = EgressPolicy(allow_loopback=True, max_response_bytes=1024)
    async with (
        Egress(capped) as small,
        httpx.AsyncClient(transport=small.transport(), trust_env=False, follow_redirects=True) as client,
    ):
        with pytest.raises(EgressBlocked):
            await client.get(server.url("/redirect?to=http://169.254.169.254/"))
        with pytest.raises(EgressTooLarge):
            await client.get(server.url("/bytes?n=4096"))
        with pytest.raises(EgressTooLarge):
            await client.get(server.url("/endless"))


async def test_transport_raises_httpx_errors_for_sdks(egress: Egress) -> None:
    """Vendor SDKs retry and time out on httpx's exceptions, so the transport keeps them."""
    async with httpx.AsyncClient(transport=egress.transport(), trust_env=False) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://127.0.0.1:9/")


async def test_cookies_are_never_kept_between_calls(egress: Egress, server: LoopbackServer) -> None:
    """One egress serves every tenant: a cookie set for one call must not ride on the next."""
    first = await egress.request("GET", server.url("/cookie"))
    assert "tenant-a-secret" in first.headers["set-cookie"]
    second = await egress.request("GET", server.url("/echo"))
    assert "cookie" not in second.json()["headers"]
    explicit = await egress.request("GET", server.url("/echo"), headers={"Cookie": "mine=1"})
    assert explicit.json()["headers"]["cookie"] == "mine=1"
