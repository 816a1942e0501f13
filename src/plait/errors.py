"""Plait's error tree.

Every layer raises these; only ``api/errors.py`` turns them into HTTP responses, in Dify's
envelope ``{"code", "message", "status"}``. Lower-layer exceptions (database drivers, HTTP
clients, vendor SDKs) are translated into this tree at the boundary where they are caught.

    PlaitError                       500 unknown
    ├── ConfigurationError           invalid settings; stops startup (never reaches HTTP)
    ├── InvalidInput                 400 invalid_param   (optional ``params``: the field)
    ├── BadRequest                   400 bad_request     (Dify's mode/feature codes use this)
    ├── Unauthorized                 401 unauthorized
    ├── Forbidden                    403 forbidden
    ├── NotFound                     404 not_found
    ├── Conflict                     409 conflict
    ├── PayloadTooLarge              413 payload_too_large
    ├── TooManyRequests              429 too_many_requests (optional ``retry_after`` seconds)
    └── ServiceUnavailable           503 service_unavailable
"""

from __future__ import annotations


class PlaitError(Exception):
    """Base of every error Plait raises on purpose.

    ``code`` and ``status`` are class defaults that a raise site may override, because Dify
    reuses one HTTP status for many codes (``not_chat_app``, ``app_unavailable``... are 400s).
    """

    code: str = "unknown"
    status: int = 500

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class ConfigurationError(PlaitError):
    """A setting is missing, malformed or unsafe; raised before anything is served."""

    code = "configuration_error"


class InvalidInput(PlaitError):
    code = "invalid_param"
    status = 400

    def __init__(self, message: str, *, params: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.params = params


class BadRequest(PlaitError):
    code = "bad_request"
    status = 400


class Unauthorized(PlaitError):
    code = "unauthorized"
    status = 401


class Forbidden(PlaitError):
    code = "forbidden"
    status = 403


class NotFound(PlaitError):
    code = "not_found"
    status = 404


class Conflict(PlaitError):
    code = "conflict"
    status = 409


class PayloadTooLarge(PlaitError):
    code = "payload_too_large"
    status = 413


class TooManyRequests(PlaitError):
    code = "too_many_requests"
    status = 429

    def __init__(self, message: str, *, retry_after: int | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ServiceUnavailable(PlaitError):
    code = "service_unavailable"
    status = 503
