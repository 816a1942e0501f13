"""The SSRF suite: every forbidden destination is refused before a connection is opened.

Each refused URL points at the live loopback test server where it can, so a guard that
let one through would show up as a request the server received, besides the connect call
the spy records.
"""

from __future__ import annotations

import pytest

from plait.egress import Egress, EgressBlocked, EgressFailed, EgressPolicy

from .conftest import LOOPBACK_POLICY, ConnectSpy, LoopbackServer, fake_resolver

STRICT = EgressPolicy(connect_timeout=2.0, read_timeout=2.0, write_timeout=2.0, total_timeout=4.0)
PUBLIC_STAND_IN = "93.184.215.14"


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.8.9.10",
        "[::1]",
        "localhost",
        "2130706433",  # decimal 127.0.0.1
        "0x7f.0.0.1",  # hex
        "0x7f000001",
        "0177.0.0.1",  # octal
        "127.1",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::7f00:1]",
        "[2002:7f00:1::]",
        "0.0.0.0",
        "0",
        "[::]",
    ],
)
async def test_loopback_in_every_spelling_is_refused(
    strict_egress: Egress, server: LoopbackServer, connect_spy: ConnectSpy, host: str
) -> None:
    with pytest.raises(EgressBlocked) as refused:
        await strict_egress.request("GET", f"http://{host}:{server.port}/echo")
    assert refused.value.code == "egress_blocked"
    assert refused.value.status == 400
    assert connect_spy.calls == []
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://10.255.255.255:8080/",
        "http://172.16.0.1/",
        "http://172.31.1.1/",
        "http://192.168.0.1/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::]/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://255.255.255.255/",
        "http://240.0.0.1/",
        "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",  # Teredo carrying 10.0.0.1
        "https://10.0.0.1/",
    ],
)
async def test_internal_addresses_are_refused(strict_egress: Egress, connect_spy: ConnectSpy, url: str) -> None:
    with pytest.raises(EgressBlocked):
        await strict_egress.request("GET", url)
    assert connect_spy.calls == []


async def test_refusal_names_the_address_and_the_reason(strict_egress: Egress) -> None:
    with pytest.raises(EgressBlocked, match=r"169\.254\.169\.254 is refused: link-local"):
        await strict_egress.request("GET", "http://169.254.169.254/latest/meta-data/")


@pytest.mark.parametrize(
    ("name", "addresses"),
    [
        ("internal.example", ["10.1.2.3"]),
        ("metadata.example", ["169.254.169.254"]),
        ("loop.example", ["127.0.0.1"]),
        ("v6loop.example", ["::1"]),
        ("mapped.example", ["::ffff:127.0.0.1"]),
        # One forbidden address among public ones refuses the name: never pick and hope.
        ("mixed.example", [PUBLIC_STAND_IN, "10.0.0.1"]),
        ("mixed6.example", ["2606:4700:4700::1111", "fd00::1"]),
    ],
)
async def test_names_resolving_to_internal_addresses_are_refused(
    server: LoopbackServer, connect_spy: ConnectSpy, name: str, addresses: list[str]
) -> None:
    async with Egress(STRICT, resolver=fake_resolver({name: addresses})) as egress:
        with pytest.raises(EgressBlocked, match=f"{name} \\(resolves to "):
            await egress.request("GET", f"http://{name}:{server.port}/echo")
    assert connect_spy.calls == []
    assert server.requests == []


async def test_dns_rebinding_connects_to_the_vetted_address(server: LoopbackServer, connect_spy: ConnectSpy) -> None:
    """The rebinding DNS answers public first, then loopback. The name is looked up once per
    connection and the socket opened to that very answer, so the second answer is never
    used for it. (The "public" address is a stand-in the spy routes to the test server.)"""
    lookups: list[str] = []
    answers = iter([[PUBLIC_STAND_IN], ["127.0.0.1"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)

    connect_spy.stand_ins[PUBLIC_STAND_IN] = ("127.0.0.1", server.port)
    async with Egress(STRICT, resolver=rebinding) as egress:
        response = await egress.request("GET", f"http://rebind.example:{server.port}/echo")
    assert response.status_code == 200
    assert response.json()["headers"]["host"] == f"rebind.example:{server.port}"
    assert lookups == ["rebind.example"]
    assert connect_spy.calls == [(PUBLIC_STAND_IN, server.port)]

    # A new connection looks the name up again, gets loopback, and is refused.
    async with Egress(STRICT, resolver=rebinding) as egress:
        with pytest.raises(EgressBlocked):
            await egress.request("GET", f"http://rebind.example:{server.port}/echo")
    assert lookups == ["rebind.example", "rebind.example"]
    assert connect_spy.calls == [(PUBLIC_STAND_IN, server.port)]
    assert len(server.requests) == 1


async def test_connection_is_opened_to_the_address_not_the_name(
    server: LoopbackServer, connect_spy: ConnectSpy
) -> None:
    async with Egress(LOOPBACK_POLICY, resolver=fake_resolver({"app.example": ["127.0.0.1"]})) as egress:
        response = await egress.request("GET", f"http://app.example:{server.port}/echo")
    assert response.status_code == 200
    assert connect_spy.calls == [("127.0.0.1", server.port)]


async def test_unknown_names_fail_cleanly(connect_spy: ConnectSpy) -> None:
    async with Egress(STRICT, resolver=fake_resolver({})) as egress:
        with pytest.raises(EgressFailed, match="could not resolve"):
            await egress.request("GET", "http://nowhere.example/")
    assert connect_spy.calls == []


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://2852039166/",  # 169.254.169.254 in decimal
    ],
)
async def test_redirect_to_an_internal_address_is_refused(
    egress: Egress, server: LoopbackServer, connect_spy: ConnectSpy, target: str
) -> None:
    with pytest.raises(EgressBlocked):
        await egress.request("GET", server.url(f"/redirect?to={target}"))
    assert connect_spy.calls == [("127.0.0.1", server.port)]
    assert [request.path.split("?")[0] for request in server.requests] == ["/redirect"]


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1:70/_stats", "dict://127.0.0.1:11211/"]
)
async def test_redirect_to_another_scheme_is_refused(egress: Egress, server: LoopbackServer, target: str) -> None:
    with pytest.raises(EgressBlocked, match="only http and https"):
        await egress.request("GET", server.url(f"/redirect?to={target}"))


async def test_redirect_between_allowed_hosts_is_followed(egress: Egress, server: LoopbackServer) -> None:
    target = server.url("/echo?hop=2", host="localhost")
    response = await egress.request("GET", server.url(f"/redirect?to={target}&status=307"))
    assert response.status_code == 200
    assert response.url == target
    assert response.json()["query"] == {"hop": ["2"]}


async def test_redirects_are_not_followed_when_asked_not_to(egress: Egress, server: LoopbackServer) -> None:
    response = await egress.request("GET", server.url("/redirect?to=http://169.254.169.254/"), follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "http://169.254.169.254/"


async def test_too_many_redirects_fail(server: LoopbackServer) -> None:
    policy = EgressPolicy(allow_loopback=True, max_redirects=3, total_timeout=4.0)
    async with Egress(policy) as egress:
        with pytest.raises(EgressFailed, match="too many redirects"):
            await egress.request("GET", server.url("/loop/0"))
    assert [request.path for request in server.requests] == ["/loop/0", "/loop/1", "/loop/2", "/loop/3"]


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/",
        "gopher://127.0.0.1:70/_stats",
        "ws://127.0.0.1/",
        "javascript:alert(1)",
        "/relative/path",
        "127.0.0.1/echo",
        "http:///nohost",
    ],
)
async def test_only_http_and_https_are_allowed(egress: Egress, connect_spy: ConnectSpy, url: str) -> None:
    with pytest.raises(EgressBlocked):
        await egress.request("GET", url)
    assert connect_spy.calls == []


@pytest.mark.parametrize(
    "authority", ["user:secret@127.0.0.1:{port}", "169.254.169.254@127.0.0.1:{port}", "a@b.example\\@127.0.0.1:{port}"]
)
async def test_credentials_in_the_url_are_refused(
    egress: Egress, server: LoopbackServer, connect_spy: ConnectSpy, authority: str
) -> None:
    with pytest.raises(EgressBlocked, match="credentials in the URL"):
        await egress.request("GET", f"http://{authority.format(port=server.port)}/echo")
    assert connect_spy.calls == []


async def test_proxies_from_the_environment_are_ignored(
    egress: Egress, server: LoopbackServer, connect_spy: ConnectSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/")
    monkeypatch.setenv("NO_PROXY", "")
    async with Egress(LOOPBACK_POLICY) as fresh:
        response = await fresh.request("GET", server.url("/echo"))
    assert response.status_code == 200
    assert connect_spy.calls == [("127.0.0.1", server.port)]
