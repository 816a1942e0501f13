"""EgressPolicy: where the egress may connect, and how much time and data it may spend.

The policy is a plain value passed to :class:`~plait.egress.Egress` by the composition
root, which builds it from settings; the egress itself reads no settings and no
environment. The defaults are the safe ones: only public addresses, 10 MiB, bounded time.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

from plait.egress.addresses import AddressKind, IPAddress, classify
from plait.errors import ConfigurationError

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class EgressPolicy:
    """What the egress may do.

    ``allow_loopback`` and ``allow_private`` open the loopback (127/8, ::1) and private
    (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) ranges: loopback for tests, private
    for a self-hosted model server on the LAN. ``allowed_networks`` opens exactly the
    networks an operator names (say one Ollama host) without opening a whole range.
    Link-local (cloud metadata), unspecified, multicast and reserved addresses are refused
    unless named in ``allowed_networks``.

    Times are in seconds. ``total_timeout`` bounds a whole call, redirects and body
    included, because read and write timeouts only bound the wait for each chunk and a
    server trickling one byte at a time would otherwise hold a worker for ever.
    """

    allow_loopback: bool = False
    allow_private: bool = False
    allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    max_response_bytes: int = 10 * MIB
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    write_timeout: float = 20.0
    total_timeout: float = 120.0
    max_redirects: int = 5
    user_agent: str = "Plait"

    def __post_init__(self) -> None:
        if self.max_response_bytes < 1:
            raise ConfigurationError("egress max_response_bytes must be at least 1")
        for name in ("connect_timeout", "read_timeout", "write_timeout", "total_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"egress {name} must be a positive number of seconds")
        if self.max_redirects < 0:
            raise ConfigurationError("egress max_redirects must be 0 or more")
        if not self.user_agent:
            raise ConfigurationError("egress user_agent must not be empty")

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be reached, or None when it may."""
        if any(address.version == network.version and address in network for network in self.allowed_networks):
            return None
        classification = classify(address)
        kind = classification.kind
        if (
            kind is AddressKind.PUBLIC
            or (kind is AddressKind.LOOPBACK and self.allow_loopback)
            or (kind is AddressKind.PRIVATE and self.allow_private)
        ):
            return None
        return classification.detail
