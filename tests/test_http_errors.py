"""Every error leaves Plait in Dify's envelope, and every response carries Plait's headers.

Proves that each error path (malformed or missing body, bad parameters, missing or bad
credentials, already set up, unknown route, wrong method, oversized body with or without a
Content-Length, login rate limit, an unexpected exception) answers with a JSON body of
exactly ``code``, ``message`` and ``status`` (plus an optional ``params``), whose ``status``
is the HTTP status and which never shows a traceback; and that every response, success or
error, has ``X-Request-Id`` (echoing a valid incoming one, replacing an invalid one),
``X-Version`` and ``X-Env``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from plait import __version__
from plait.app.bootstrap import Plait

from .conftest import OWNER_EMAIL, OWNER_PASSWORD, StartPlait

SETUP = "/console/api/setup"
LOGIN = "/console/api/login"
PROFILE = "/console/api/account/profile"
INVALID_JSON_MESSAGE = "Invalid JSON payload received or JSON payload is empty."
GENERATED_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_BODY = 1024


@pytest.fixture
async def small_body_client(start_plait: StartPlait) -> httpx.AsyncClient:
    """A client on a Plait that accepts request bodies of at most ``MAX_BODY`` bytes."""
    _plait, client = await start_plait(PLAIT_MAX_REQUEST_BYTES=str(MAX_BODY))
    return client


def assert_envelope(response: httpx.Response, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    """The response is Dify's error envelope for ``status`` and ``code``, and nothing more."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    body: dict[str, Any] = response.json()
    assert set(body) in ({"code", "message", "status"}, {"code", "message", "status", "params"}), body
    assert isinstance(body["code"], str)
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["status"], int)
    assert body["status"] == status
    assert body["code"] == code
    if message is not None:
        assert body["message"] == message
    assert response.headers.get("x-request-id")
    return body


def assert_bearer_challenge(response: httpx.Response) -> None:
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


# --- request bodies -----------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"{", b'{"email": "a@b.c",', b"not json at all"])
async def test_invalid_json_body_is_a_bad_request(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(LOGIN, content=content, headers={"Content-Type": "application/json"})
    assert_envelope(response, 400, "bad_request", INVALID_JSON_MESSAGE)


@pytest.mark.parametrize("content_type", [None, "application/json"])
async def test_empty_login_body_is_a_bad_request(client: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(LOGIN, content=b"", headers=headers)
    assert_envelope(response, 400, "bad_request", INVALID_JSON_MESSAGE)


async def test_missing_field_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, json={"email": OWNER_EMAIL})
    body = assert_envelope(response, 400, "invalid_param", "Arg password must be provided.")
    assert body["params"] == "password"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": 123, "password": OWNER_PASSWORD}, "email"),
        ({"email": OWNER_EMAIL, "password": ["a", "list"]}, "password"),
        ({"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "remember_me": "perhaps"}, "remember_me"),
    ],
)
async def test_wrong_type_is_an_invalid_param(client: httpx.AsyncClient, payload: dict[str, Any], field: str) -> None:
    response = await client.post(LOGIN, json=payload)
    body = assert_envelope(response, 400, "invalid_param")
    assert body["params"] == field


@pytest.mark.parametrize("payload", [[1, 2], None, "a string"], ids=["array", "null", "string"])
async def test_json_that_is_not_an_object_is_refused_in_the_envelope(client: httpx.AsyncClient, payload: Any) -> None:
    response = await client.post(LOGIN, json=payload)
    assert response.status_code == 400
    assert_envelope(response, 400, response.json()["code"])
    assert response.json()["code"] in ("bad_request", "invalid_param")


# --- authentication -----------------------------------------------------------------------


async def test_missing_authorization_is_unauthorized(client: httpx.AsyncClient) -> None:
    response = await client.get(PROFILE)
    assert_envelope(response, 401, "unauthorized")
    assert_bearer_challenge(response)


@pytest.mark.parametrize("header", ["Basic b3duZXI6cGFzcw==", "Bearer", "Bearer    ", "Token abc", "abc", ""])
async def test_malformed_authorization_is_unauthorized(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get(PROFILE, headers={"Authorization": header})
    assert_envelope(response, 401, "unauthorized")
    assert_bearer_challenge(response)


async def test_unknown_token_is_unauthorized(client: httpx.AsyncClient, owner_token: str) -> None:
    response = await client.get(PROFILE, headers={"Authorization": "Bearer not-a-session-token"})
    assert_envelope(response, 401, "unauthorized")
    assert_bearer_challenge(response)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
async def test_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient, owner_token: str, scheme: str) -> None:
    response = await client.get(PROFILE, headers={"Authorization": f"{scheme} {owner_token}"})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == OWNER_EMAIL


async def test_second_setup_is_forbidden(client: httpx.AsyncClient, owner_token: str) -> None:
    response = await client.post(SETUP, json={"email": "other@example.com", "password": OWNER_PASSWORD})
    assert_envelope(response, 403, "already_setup")


# --- routing ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/console/api/no-such-route", "/v1/no-such-route"])
async def test_unknown_route_is_not_found(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert_envelope(response, 404, "not_found")


@pytest.mark.parametrize(("method", "path"), [("GET", LOGIN), ("DELETE", SETUP), ("PUT", LOGIN)])
async def test_wrong_method_is_not_allowed(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)
    assert_envelope(response, 405, "method_not_allowed")


# --- body size cap ------------------------------------------------------------------------


def oversized_login() -> bytes:
    padding = "x" * (MAX_BODY * 2)
    return f'{{"email": "{OWNER_EMAIL}", "password": "{padding}"}}'.encode()


async def test_body_over_the_limit_with_content_length_is_refused(small_body_client: httpx.AsyncClient) -> None:
    content = oversized_login()
    request = small_body_client.build_request(
        "POST", LOGIN, content=content, headers={"Content-Type": "application/json"}
    )
    assert request.headers["content-length"] == str(len(content))

    response = await small_body_client.send(request)

    assert_envelope(response, 413, "payload_too_large")


async def test_streamed_body_over_the_limit_is_refused(small_body_client: httpx.AsyncClient) -> None:
    content = oversized_login()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 256):
            yield content[start : start + 256]

    request = small_body_client.build_request(
        "POST", LOGIN, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"

    response = await small_body_client.send(request)

    assert_envelope(response, 413, "payload_too_large")


async def test_streamed_body_within_the_limit_reaches_the_route(small_body_client: httpx.AsyncClient) -> None:
    content = f'{{"email": "{OWNER_EMAIL}", "password": "{OWNER_PASSWORD}"}}'.encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 16):
            yield content[start : start + 16]

    response = await small_body_client.post(LOGIN, content=chunks(), headers={"Content-Type": "application/json"})

    # No account exists: the route ran and refused the credentials, the size cap did not.
    assert_envelope(response, 400, "email_or_password_mismatch")


# --- rate limit ---------------------------------------------------------------------------


async def test_login_rate_limit_is_too_many_requests(client: httpx.AsyncClient, owner_token: str, plait: Plait) -> None:
    for _ in range(plait.settings.auth.login_max_failures):
        response = await client.post(LOGIN, json={"email": OWNER_EMAIL, "password": "wrong-password-1"})
        assert_envelope(response, 400, "email_or_password_mismatch")

    response = await client.post(LOGIN, json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})

    assert_envelope(response, 429, "login_rate_limited")
    assert int(response.headers["retry-after"]) > 0


# --- unexpected exceptions ----------------------------------------------------------------


async def test_unexpected_exception_is_an_opaque_500(
    client: httpx.AsyncClient, plait: Plait, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom() -> None:
        raise RuntimeError("boom secret")

    monkeypatch.setattr(plait.accounts, "setup_status", boom)

    response = await client.get(SETUP, headers={"X-Request-Id": "trace-me-500"})

    assert_envelope(response, 500, "unknown", "Internal Server Error")
    assert "boom" not in response.text
    assert "secret" not in response.text
    assert "RuntimeError" not in response.text
    assert response.headers["x-request-id"] == "trace-me-500"


# --- response headers ---------------------------------------------------------------------


REQUESTS = [
    pytest.param("GET", "/health", None, 200, id="success"),
    pytest.param("GET", SETUP, None, 200, id="console-success"),
    pytest.param("POST", LOGIN, b"{", 400, id="bad-request"),
    pytest.param("GET", PROFILE, None, 401, id="unauthorized"),
    pytest.param("GET", "/nope", None, 404, id="not-found"),
    pytest.param("GET", LOGIN, None, 405, id="method-not-allowed"),
]


@pytest.mark.parametrize(("method", "path", "content", "status"), REQUESTS)
async def test_every_response_has_a_generated_request_id(
    client: httpx.AsyncClient, method: str, path: str, content: bytes | None, status: int
) -> None:
    response = await client.request(method, path, content=content)
    assert response.status_code == status
    assert GENERATED_REQUEST_ID.match(response.headers["x-request-id"])


async def test_request_ids_differ_between_requests(client: httpx.AsyncClient) -> None:
    first = await client.get("/health")
    second = await client.get("/health")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(("method", "path", "content", "status"), REQUESTS)
async def test_a_valid_request_id_is_echoed(
    client: httpx.AsyncClient, method: str, path: str, content: bytes | None, status: int
) -> None:
    response = await client.request(method, path, content=content, headers={"X-Request-Id": "abc-123"})
    assert response.status_code == status
    assert response.headers["x-request-id"] == "abc-123"


@pytest.mark.parametrize("given", ["req_2024.11:22-ABC", "0", "a" * 128], ids=["punctuation", "one-char", "128-chars"])
async def test_request_ids_of_every_allowed_form_are_echoed(client: httpx.AsyncClient, given: str) -> None:
    response = await client.get("/health", headers={"X-Request-Id": given})
    assert response.headers["x-request-id"] == given


async def test_request_id_is_echoed_on_a_refused_oversized_body(small_body_client: httpx.AsyncClient) -> None:
    response = await small_body_client.post(
        LOGIN, content=oversized_login(), headers={"X-Request-Id": "big-body-1", "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["x-request-id"] == "big-body-1"


@pytest.mark.parametrize(
    "given",
    ["has spaces", "a" * 129, "a" * 300, "semi;colon", 'quote"d', "slash/ed", "ünïcode"],
    ids=["spaces", "129-chars", "300-chars", "semicolon", "quote", "slash", "non-ascii"],
)
async def test_an_invalid_request_id_is_replaced(client: httpx.AsyncClient, given: str) -> None:
    response = await client.get("/health", headers={"X-Request-Id": given.encode()})
    assert response.status_code == 200
    replaced = response.headers["x-request-id"]
    assert replaced != given
    assert GENERATED_REQUEST_ID.match(replaced)


async def test_a_request_id_with_a_trailing_newline_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-Id": "abc\n"})
    assert GENERATED_REQUEST_ID.match(response.headers["x-request-id"])


@pytest.mark.parametrize(("method", "path", "content", "status"), REQUESTS)
async def test_every_response_has_version_and_env(
    client: httpx.AsyncClient, method: str, path: str, content: bytes | None, status: int
) -> None:
    response = await client.request(method, path, content=content)
    assert response.status_code == status
    assert response.headers["x-version"] == __version__
    assert response.headers["x-env"] == "DEVELOPMENT"
