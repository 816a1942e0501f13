"""Every error leaves Plait in Dify's envelope ``{"code", "message", "status"}``.

The handlers here map Plait's error tree, request validation failures and Starlette's HTTP
errors; ``middleware.RequestContext`` turns anything unexpected into a 500 envelope with the
request id, and never into a stack trace.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from plait.errors import PlaitError, TooManyRequests, Unauthorized

INVALID_JSON_MESSAGE = "Invalid JSON payload received or JSON payload is empty."


def envelope(code: str, message: str, status: int, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    body.update({key: value for key, value in extra.items() if value is not None})
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return JSONResponse(body, status_code=status, headers=headers)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# Starlette's HTTP errors, named as werkzeug names them in Dify's envelopes.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_entity_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "internal_server_error",
    503: "service_unavailable",
}


async def plait_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, PlaitError)
    response = envelope(error.code, error.message, error.status, params=getattr(error, "params", None))
    if isinstance(error, TooManyRequests) and error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


async def validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = error.errors()
    first = errors[0] if errors else {}
    kind = first.get("type", "")
    loc = tuple(first.get("loc", ()))
    # The first element names where the value came from (body, query, path...); the rest is
    # the field, which may itself be called "query" (as chat messages' field is).
    location = (
        [str(part) for part in loc[1:]]
        if loc and loc[0] in ("body", "query", "path", "header", "cookie")
        else [str(part) for part in loc]
    )
    if kind == "json_invalid" or (kind == "missing" and not location and first.get("loc") == ("body",)):
        return envelope("bad_request", INVALID_JSON_MESSAGE, 400)
    field = ".".join(location) or None
    message = str(first.get("msg", "Invalid parameter."))
    if kind == "missing" and field:
        message = f"Arg {field} must be provided."
    elif field:
        message = f"{field}: {message}"
    return envelope("invalid_param", message, 400, params=field)


async def http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if isinstance(error.__cause__, PlaitError):
        # FastAPI wraps whatever fails while it reads a body (our size cap included) in a
        # generic 400; report the real reason.
        return await plait_error(request, error.__cause__)
    code = HTTP_CODES.get(error.status_code) or _snake(type(error).__name__)
    message = error.detail if isinstance(error.detail, str) else "Request failed."
    if error.status_code == 404 and message == "Not Found":
        message = "The requested URL was not found on the server."
    if error.status_code == 405:
        message = "The method is not allowed for the requested URL."
    response = envelope(code, message, error.status_code)
    for key, value in (error.headers or {}).items():
        response.headers[key] = value
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(PlaitError, plait_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
