"""The failure rules the adapters share: Retry-After, error bodies, statuses, and keys
blotted out of messages. (Each adapter's tests show them end to end.)"""

from __future__ import annotations

import pytest

from plait.errors import PlaitError
from plait.providers.errors import (
    ModelAuthFailed,
    ModelBadRequest,
    ModelContextTooLong,
    ModelError,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
)
from plait.providers.failures import error_detail, from_status, from_transport, hide, retry_after


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "12"}, 12.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # OpenAI's finer header wins
        ({"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT"}, 7.0),
        ({"Retry-After": "Sun, 06 Nov 1994 08:49:00 GMT"}, 0.0),  # a date past is now
        ({"Retry-After": "soon"}, None),
        ({"retry-after-ms": "x"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after(headers: dict[str, str] | None, expected: float | None) -> None:
    assert retry_after(headers, now=lambda: 784111770.0) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"message": "Rate limit reached", "type": "requests"}}, "Rate limit reached"),
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "Overloaded"),
        ({"message": "invalid api token"}, "invalid api token"),
        ({"detail": "Not found"}, "Not found"),
        ({"error": "plain"}, "plain"),
        ("  some\n  text  ", "some text"),
        (None, ""),
    ],
)
def test_error_detail(body: object, expected: str) -> None:
    assert error_detail(body) == expected


def test_error_detail_is_cut_short() -> None:
    assert len(error_detail("x" * 5000)) == 500


@pytest.mark.parametrize(
    ("status", "detail", "expected"),
    [
        (401, "bad key", ModelAuthFailed),
        (403, "no access", ModelAuthFailed),
        (429, "slow", ModelRateLimited),
        (408, "late", ModelTimeout),
        (500, "oops", ModelUnavailable),
        (529, "overloaded", ModelUnavailable),
        (400, "This model's maximum context length is 4097 tokens", ModelContextTooLong),
        (400, "prompt is too long: 300000 tokens > 200000 maximum", ModelContextTooLong),
        (400, "unknown field", ModelBadRequest),
        (404, "no such model", ModelBadRequest),
    ],
)
def test_statuses(status: int, detail: str, expected: type[ModelError]) -> None:
    error = from_status(status, detail, vendor="Vendor", headers={"retry-after": "3"})
    assert type(error) is expected
    assert detail in error.message
    assert f"HTTP {status}" in error.message


def test_the_vendors_code_can_say_context_length() -> None:
    error = from_status(400, "too big", vendor="OpenAI", code="context_length_exceeded")
    assert isinstance(error, ModelContextTooLong)


def test_keys_are_blotted_out() -> None:
    key = "sk-abcdef123456"
    assert hide(f"bad key {key}!", key) == "bad key ***!"
    assert hide("short keys stay", "ab") == "short keys stay"
    assert key not in from_status(401, f"Incorrect API key {key}", vendor="V", secret=key).message


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("egress_blocked", ModelBadRequest),
        ("egress_timeout", ModelTimeout),
        ("egress_failed", ModelUnavailable),
        ("egress_response_too_large", ModelError),
    ],
)
def test_egress_errors_by_code(code: str, expected: type[ModelError]) -> None:
    cause = PlaitError("egress to 10.0.0.5 is refused: private (10.0.0.0/8)", code=code)
    wrapper = RuntimeError("connection error")
    wrapper.__cause__ = cause
    error = from_transport(wrapper, vendor="vLLM")
    assert type(error) is expected
    assert "10.0.0.5" in error.message  # type: ignore[union-attr]


def test_a_refused_url_form_gets_no_network_hint() -> None:
    cause = PlaitError("credentials in the URL are refused; send them in a header", code="egress_blocked")
    error = from_transport(cause, vendor="vLLM")
    assert error is not None
    assert "PLAIT_EGRESS" not in error.message


def test_other_errors_are_not_transport_errors() -> None:
    assert from_transport(KeyError("x"), vendor="V") is None
    assert from_transport(PlaitError("not ours", code="invalid_param"), vendor="V") is None
