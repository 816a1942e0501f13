"""The egress: Plait's one outbound HTTP client, guarded against SSRF (DESIGN.md §5).

    from plait.egress import Egress, EgressPolicy

    egress = Egress(EgressPolicy())
    response = await egress.request("GET", "https://example.com/")

See :mod:`plait.egress.client` for what it guarantees and :mod:`plait.egress.errors` for
what it raises.
"""

from plait.egress.addresses import AddressKind, classify
from plait.egress.backend import Resolver
from plait.egress.client import Egress
from plait.egress.errors import EgressBlocked, EgressError, EgressFailed, EgressTimeout, EgressTooLarge
from plait.egress.policy import EgressPolicy
from plait.egress.response import EgressResponse, EgressStream

__all__ = [
    "AddressKind",
    "Egress",
    "EgressBlocked",
    "EgressError",
    "EgressFailed",
    "EgressPolicy",
    "EgressResponse",
    "EgressStream",
    "EgressTimeout",
    "EgressTooLarge",
    "Resolver",
    "classify",
]
