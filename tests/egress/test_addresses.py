"""The address policy on its own: every forbidden form, classified without any network."""

from __future__ import annotations

from ipaddress import IPv4Network, ip_address

import pytest

from plait.egress import AddressKind, EgressPolicy, classify
from plait.errors import ConfigurationError

# Teredo: server 65.54.227.120, client stored inverted; ~10.0.0.1 = f5ff:fffe, ~8.8.8.8 = f7f7:f7f7.
TEREDO_PRIVATE_CLIENT = "2001:0:4136:e378:8000:63bf:f5ff:fffe"
TEREDO_PUBLIC_CLIENT = "2001:0:4136:e378:8000:63bf:f7f7:f7f7"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", AddressKind.LOOPBACK),
        ("127.255.255.254", AddressKind.LOOPBACK),
        ("::1", AddressKind.LOOPBACK),
        ("10.0.0.1", AddressKind.PRIVATE),
        ("172.16.0.1", AddressKind.PRIVATE),
        ("172.31.255.255", AddressKind.PRIVATE),
        ("192.168.1.1", AddressKind.PRIVATE),
        ("100.64.0.1", AddressKind.PRIVATE),
        ("100.127.255.255", AddressKind.PRIVATE),
        ("fc00::1", AddressKind.PRIVATE),
        ("fd12:3456::1", AddressKind.PRIVATE),
        ("169.254.169.254", AddressKind.LINK_LOCAL),
        ("169.254.0.1", AddressKind.LINK_LOCAL),
        ("fe80::1", AddressKind.LINK_LOCAL),
        ("0.0.0.0", AddressKind.UNSPECIFIED),
        ("0.1.2.3", AddressKind.UNSPECIFIED),
        ("::", AddressKind.UNSPECIFIED),
        ("224.0.0.1", AddressKind.MULTICAST),
        ("239.255.255.250", AddressKind.MULTICAST),
        ("ff02::1", AddressKind.MULTICAST),
        ("255.255.255.255", AddressKind.RESERVED),
        ("240.0.0.1", AddressKind.RESERVED),
        ("192.0.0.170", AddressKind.RESERVED),
        ("198.18.0.1", AddressKind.RESERVED),
        ("192.0.2.1", AddressKind.RESERVED),
        ("2001:db8::1", AddressKind.RESERVED),
        ("fec0::1", AddressKind.RESERVED),
        ("100::1", AddressKind.RESERVED),
        # IPv6 forms that carry an IPv4 address are judged by that address.
        ("::ffff:127.0.0.1", AddressKind.LOOPBACK),
        ("::ffff:7f00:1", AddressKind.LOOPBACK),
        ("::ffff:10.0.0.1", AddressKind.PRIVATE),
        ("::ffff:169.254.169.254", AddressKind.LINK_LOCAL),
        ("::7f00:1", AddressKind.LOOPBACK),
        ("::a00:1", AddressKind.PRIVATE),
        ("64:ff9b::a9fe:a9fe", AddressKind.LINK_LOCAL),
        ("64:ff9b:1::1", AddressKind.PRIVATE),
        ("2002:7f00:1::", AddressKind.LOOPBACK),
        ("2002:a00:1::1", AddressKind.PRIVATE),
        ("2002:a9fe:a9fe::1", AddressKind.LINK_LOCAL),
        (TEREDO_PRIVATE_CLIENT, AddressKind.PRIVATE),
        # Public addresses, in every form.
        ("8.8.8.8", AddressKind.PUBLIC),
        ("93.184.215.14", AddressKind.PUBLIC),
        ("172.32.0.1", AddressKind.PUBLIC),
        ("100.128.0.1", AddressKind.PUBLIC),
        ("2606:4700:4700::1111", AddressKind.PUBLIC),
        ("::ffff:8.8.8.8", AddressKind.PUBLIC),
        ("2002:808:808::1", AddressKind.PUBLIC),
        (TEREDO_PUBLIC_CLIENT, AddressKind.PUBLIC),
    ],
)
def test_classify(address: str, kind: AddressKind) -> None:
    assert classify(ip_address(address)).kind is kind


def test_classification_explains_itself() -> None:
    assert classify(ip_address("169.254.169.254")).detail == "link-local (cloud metadata lives here) (169.254.0.0/16)"
    assert "127.0.0.1" in classify(ip_address("::ffff:7f00:1")).detail


def test_default_policy_allows_public_addresses_only() -> None:
    policy = EgressPolicy()
    assert policy.refusal(ip_address("8.8.8.8")) is None
    assert policy.refusal(ip_address("2606:4700:4700::1111")) is None
    for address in ("127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "0.0.0.0", "::ffff:127.0.0.1"):
        assert policy.refusal(ip_address(address)) is not None, address


def test_allow_loopback_opens_loopback_only() -> None:
    policy = EgressPolicy(allow_loopback=True)
    assert policy.refusal(ip_address("127.0.0.1")) is None
    assert policy.refusal(ip_address("::1")) is None
    assert policy.refusal(ip_address("10.0.0.1")) is not None
    assert policy.refusal(ip_address("169.254.169.254")) is not None


def test_allow_private_never_opens_metadata() -> None:
    policy = EgressPolicy(allow_private=True)
    assert policy.refusal(ip_address("10.0.0.1")) is None
    assert policy.refusal(ip_address("fd00::1")) is None
    assert policy.refusal(ip_address("127.0.0.1")) is not None
    assert policy.refusal(ip_address("169.254.169.254")) is not None
    assert policy.refusal(ip_address("0.0.0.0")) is not None


def test_allowed_networks_open_exactly_what_they_name() -> None:
    policy = EgressPolicy(allowed_networks=(IPv4Network("192.168.1.10/32"),))
    assert policy.refusal(ip_address("192.168.1.10")) is None
    assert policy.refusal(ip_address("192.168.1.11")) is not None


@pytest.mark.parametrize(
    "changes",
    [
        {"max_response_bytes": 0},
        {"connect_timeout": 0},
        {"total_timeout": -1},
        {"read_timeout": float("nan")},
        {"max_redirects": -1},
        {"user_agent": ""},
    ],
)
def test_policy_refuses_nonsense(changes: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        EgressPolicy(**changes)  # type: ignore[arg-type]
