"""How failures under the vendor SDKs become model errors: HTTP statuses, ``Retry-After``,
the egress's refusals, and connections that fail or break.

Each adapter catches its own SDK's exception classes; the rules they share live here, so a
429 or a refused address reads the same from every vendor. The egress and the HTTP
libraries cannot be imported from here (the egress is a sibling layer, and only it may
import HTTP clients), so their errors are recognised by what they are: Plait errors with
an ``egress_*`` code, and exceptions from the ``httpx``/``httpcore`` family of modules.

Every message passes through :func:`hide`, so a key a server echoes back (or a URL that
carries one) never reaches a log or a workflow's output.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

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

# How servers say the prompt does not fit: OpenAI's code and message, vLLM, llama.cpp
# ("exceeds the available context size"), Anthropic ("prompt is too long"), DashScope.
CONTEXT_TOO_LONG = re.compile(
    r"context[ _-]?(length|size|window)|maximum context|prompt is too long|too many (input )?tokens|input length",
    re.IGNORECASE,
)

_HTTP_LIBRARIES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2"})
_EGRESS_HINT = (
    "Plait refuses model servers on this machine or a private network unless allowed: set "
    "PLAIT_EGRESS_ALLOWED_NETWORKS to the server's network (e.g. 10.1.2.3/32), or PLAIT_EGRESS_ALLOW_PRIVATE=true "
    "to allow every private range."
)
_MAX_DETAIL = 500


def hide(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (an API key) blotted out."""
    if secret and len(secret) >= 4:
        return text.replace(secret, "***")
    return text


def retry_after(headers: Mapping[str, str] | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait before retrying, from ``retry-after-ms`` (OpenAI's) or ``Retry-After``
    (seconds, or an HTTP date); None when the server did not say."""
    if not headers:
        return None
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        if lowered.get("retry-after-ms"):
            return max(float(lowered["retry-after-ms"]) / 1000, 0.0)
        value = lowered.get("retry-after", "").strip()
        if not value:
            return None
        if value.replace(".", "", 1).isdigit():
            return float(value)
        return max(email.utils.parsedate_to_datetime(value).timestamp() - now(), 0.0)
    except (TypeError, ValueError):
        return None


def error_detail(body: Any) -> str:
    """The human part of an error body, in the shapes vendors use: ``{"error": {"message"}}``
    (OpenAI, Anthropic), ``{"message"}`` (Cohere), ``{"detail"}`` (Jina, FastAPI servers)."""
    detail: Any = body
    for _ in range(3):
        if not isinstance(detail, Mapping):
            break
        detail = next((detail[key] for key in ("error", "message", "detail") if detail.get(key)), str(dict(detail)))
    text = detail if isinstance(detail, str) else str(detail or "")
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def from_status(
    status: int,
    detail: str,
    *,
    vendor: str,
    headers: Mapping[str, str] | None = None,
    code: str | None = None,
    secret: str | None = None,
) -> ModelError:
    """The model error for an HTTP error status; ``code`` is the vendor's error code."""
    said = f" (HTTP {status}): {hide(detail, secret)}" if detail else f" (HTTP {status})"
    if status in (401, 403):
        return ModelAuthFailed(f"{vendor} refused the credentials{said}")
    if status == 429:
        return ModelRateLimited(f"{vendor} rate limit reached{said}", retry_after=retry_after(headers))
    if status == 408:
        return ModelTimeout(f"{vendor} timed out{said}")
    if status >= 500:
        return ModelUnavailable(f"{vendor} is unavailable{said}")
    if CONTEXT_TOO_LONG.search(f"{code or ''} {detail}"):
        return ModelContextTooLong(f"the prompt is too long for the model{said}")
    return ModelBadRequest(f"{vendor} refused the request{said}")


def from_transport(error: BaseException, *, vendor: str, secret: str | None = None) -> ModelError | None:
    """The model error for a refused, failed or broken connection anywhere in ``error``'s
    chain of causes; None when the chain holds none."""
    chain = list(_causes(error))
    for link in chain:
        if isinstance(link, ModelError):
            return link
        if isinstance(link, PlaitError) and link.code.startswith("egress_"):
            return _from_egress(link, vendor, secret)
    for link in chain:
        kinds = {cls.__name__ for cls in type(link).__mro__ if cls.__module__.partition(".")[0] in _HTTP_LIBRARIES}
        if "TimeoutException" in kinds:
            return ModelTimeout(f"{vendor} did not answer in time")
        if kinds:
            text = hide(str(link), secret)
            return ModelUnavailable(f"the connection to {vendor} failed: {text or type(link).__name__}")
    return None


def _from_egress(error: PlaitError, vendor: str, secret: str | None) -> ModelError:
    text = hide(error.message, secret)
    if error.code == "egress_blocked":
        # Refused URL forms (scheme, credentials in the URL) are not about networks.
        hint = "" if "URL" in text else f" {_EGRESS_HINT}"
        return ModelBadRequest(f"the {vendor} endpoint is not allowed: {text}.{hint}")
    if error.code == "egress_timeout":
        return ModelTimeout(f"{vendor} did not answer in time: {text}")
    if error.code == "egress_response_too_large":
        return ModelError(f"the reply from {vendor} is too large: {text}")
    return ModelUnavailable(f"the connection to {vendor} failed: {text}")


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__


Translator = Callable[..., ModelError | None]


@contextlib.contextmanager
def model_errors(translate: Translator, *, vendor: str, secret: str | None) -> Iterator[None]:
    """Raise what the block raises as a model error, where the adapter's ``translate``
    knows it (anything it does not know is a bug to surface, and passes as it is)."""
    try:
        yield
    except Exception as error:
        translated = translate(error, vendor=vendor, secret=secret)
        if translated is None or translated is error:
            raise
        raise translated from error
