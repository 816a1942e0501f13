"""What kind of address is this? The address half of the SSRF guard.

The egress decides by the *resolved* address, never by the spelling of the host: a name,
``2130706433``, ``0x7f.0.0.1`` and ``[::ffff:7f00:1]`` all reach 127.0.0.1, and only the
address the socket would connect to tells them apart. :func:`classify` puts an address in
one :class:`AddressKind`; :class:`~plait.egress.policy.EgressPolicy` decides which kinds
may be reached.

The tables are written out here instead of using ``ipaddress``'s ``is_private``/
``is_global`` because those changed between Python patch releases; the guard must not.
IPv6 is judged by an allow-list (only global unicast, ``2000::/3``, can be public), and
the IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) are
judged by the IPv4 address they carry.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

IPAddress = IPv4Address | IPv6Address


class AddressKind(enum.Enum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local"
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    RESERVED = "reserved"


@dataclass(frozen=True, slots=True)
class Classification:
    """An address's kind, and the words that explain it in an error message."""

    kind: AddressKind
    detail: str


_IPV4_TABLE: tuple[tuple[IPv4Network, AddressKind, str], ...] = tuple(
    (IPv4Network(network), kind, label)
    for network, kind, label in (
        ("0.0.0.0/8", AddressKind.UNSPECIFIED, '"this network"'),
        ("127.0.0.0/8", AddressKind.LOOPBACK, "loopback"),
        ("10.0.0.0/8", AddressKind.PRIVATE, "private"),
        ("172.16.0.0/12", AddressKind.PRIVATE, "private"),
        ("192.168.0.0/16", AddressKind.PRIVATE, "private"),
        ("100.64.0.0/10", AddressKind.PRIVATE, "carrier-grade NAT"),
        ("169.254.0.0/16", AddressKind.LINK_LOCAL, "link-local (cloud metadata lives here)"),
        ("192.0.0.0/24", AddressKind.RESERVED, "IETF protocol assignment"),
        ("192.0.2.0/24", AddressKind.RESERVED, "documentation"),
        ("198.51.100.0/24", AddressKind.RESERVED, "documentation"),
        ("203.0.113.0/24", AddressKind.RESERVED, "documentation"),
        ("198.18.0.0/15", AddressKind.RESERVED, "benchmarking"),
        ("192.88.99.0/24", AddressKind.RESERVED, "6to4 relay anycast"),
        ("224.0.0.0/4", AddressKind.MULTICAST, "multicast"),
        ("240.0.0.0/4", AddressKind.RESERVED, "reserved or broadcast"),
    )
)

_IPV6_TABLE: tuple[tuple[IPv6Network, AddressKind, str], ...] = tuple(
    (IPv6Network(network), kind, label)
    for network, kind, label in (
        ("::/128", AddressKind.UNSPECIFIED, "unspecified"),
        ("::1/128", AddressKind.LOOPBACK, "loopback"),
        ("64:ff9b:1::/48", AddressKind.PRIVATE, "local-use NAT64"),
        ("fc00::/7", AddressKind.PRIVATE, "unique local"),
        ("fe80::/10", AddressKind.LINK_LOCAL, "link-local"),
        ("ff00::/8", AddressKind.MULTICAST, "multicast"),
        ("2001:db8::/32", AddressKind.RESERVED, "documentation"),
        ("3fff::/20", AddressKind.RESERVED, "documentation"),
        ("2001::/23", AddressKind.RESERVED, "IETF protocol assignment"),
    )
)

_GLOBAL_UNICAST = IPv6Network("2000::/3")
_IPV4_COMPATIBLE = IPv6Network("::/96")
_NAT64 = IPv6Network("64:ff9b::/96")
_TEREDO = IPv6Network("2001::/32")


def parse_address(text: str) -> IPAddress:
    """An address as ``getaddrinfo`` reports it; an IPv6 zone (``fe80::1%eth0``) is dropped."""
    return ip_address(text.split("%", 1)[0])


def classify(address: IPAddress) -> Classification:
    if isinstance(address, IPv4Address):
        return _classify_v4(address)
    return _classify_v6(address)


def _classify_v4(address: IPv4Address) -> Classification:
    for network, kind, label in _IPV4_TABLE:
        if address in network:
            return Classification(kind, f"{label} ({network})")
    return Classification(AddressKind.PUBLIC, "public")


def _classify_v6(address: IPv6Address) -> Classification:
    embedded = _embedded_v4(address)
    if embedded:
        # The worst of the carried addresses decides: Teredo carries two.
        for form, v4 in embedded:
            inner = _classify_v4(v4)
            if inner.kind is not AddressKind.PUBLIC:
                return Classification(inner.kind, f"{form} form of {v4}, {inner.detail}")
        return Classification(AddressKind.PUBLIC, f"{embedded[0][0]} form of a public address")
    for network, kind, label in _IPV6_TABLE:
        if address in network:
            return Classification(kind, f"{label} ({network})")
    if address not in _GLOBAL_UNICAST:
        return Classification(AddressKind.RESERVED, "not global unicast (outside 2000::/3)")
    return Classification(AddressKind.PUBLIC, "public")


def _embedded_v4(address: IPv6Address) -> list[tuple[str, IPv4Address]]:
    """The IPv4 addresses an IPv6 form routes to, with the form's name; empty if none."""
    if address.ipv4_mapped is not None:
        return [("IPv4-mapped", address.ipv4_mapped)]
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return [("IPv4-compatible", IPv4Address(int(address) & 0xFFFF_FFFF))]
    if address in _NAT64:
        return [("NAT64", IPv4Address(int(address) & 0xFFFF_FFFF))]
    if address.sixtofour is not None:
        return [("6to4", address.sixtofour)]
    if address in _TEREDO and address.teredo is not None:
        server, client = address.teredo
        return [("Teredo", server), ("Teredo", client)]
    return []
