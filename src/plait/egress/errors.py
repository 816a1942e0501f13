"""Errors of the egress, translated from httpx/httpcore at the boundary.

Callers never see an httpx or httpcore exception from :class:`~plait.egress.Egress`; they
see one of these, each with a code and status for Dify's error envelope:

    PlaitError
    └── EgressError                  (never raised itself)
        ├── EgressBlocked            400 egress_blocked             refused before connecting
        ├── EgressTimeout            504 egress_timeout             connect/read/write or total deadline
        ├── EgressTooLarge           502 egress_response_too_large  body past the size cap
        └── EgressFailed             502 egress_failed              connection, TLS, protocol, redirects
"""

from __future__ import annotations

from plait.errors import PlaitError


class EgressError(PlaitError):
    """Base of the egress errors, so a caller can catch every outbound failure at once."""

    code = "egress_failed"
    status = 502


class EgressBlocked(EgressError):
    """The destination is refused by the policy: a forbidden address, scheme or URL form.

    A 400, because the destination came from the user (a node's URL, a configured endpoint).
    """

    code = "egress_blocked"
    status = 400


class EgressTimeout(EgressError):
    code = "egress_timeout"
    status = 504


class EgressTooLarge(EgressError):
    code = "egress_response_too_large"
    status = 502


class EgressFailed(EgressError):
    """The remote end could not be reached or answered badly (refused, reset, TLS, redirects)."""

    code = "egress_failed"
    status = 502
