"""Reading a provider's credential form.

Forms send everything as text (``"4096"``, ``"true"``, Dify's ``"support"``), imported
workspaces sometimes send numbers and booleans; these readers take both, and a missing
or malformed field raises :class:`~plait.providers.errors.ModelNotConfigured` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plait.providers.errors import ModelNotConfigured

_YES = frozenset({"true", "1", "yes", "on", "support", "supported", "enabled"})
_NO = frozenset({"false", "0", "no", "off", "no_support", "unsupported", "disabled"})


def text(credentials: Mapping[str, Any], name: str, default: str | None = None) -> str | None:
    """The field's text, stripped; ``default`` when absent or blank."""
    value = credentials.get(name)
    if value is None:
        return default
    stripped = str(value).strip()
    return stripped or default


def required(credentials: Mapping[str, Any], name: str, *, provider: str) -> str:
    value = text(credentials, name)
    if value is None:
        raise ModelNotConfigured(f"{provider} needs the credential field {name!r}, which is empty")
    return value


def number(credentials: Mapping[str, Any], name: str, default: int | None = None) -> int | None:
    value = text(credentials, name)
    if value is None:
        return default
    try:
        result = int(float(value))
    except ValueError:
        raise ModelNotConfigured(f"the credential field {name!r} must be a number, not {value!r}") from None
    if result <= 0:
        raise ModelNotConfigured(f"the credential field {name!r} must be a positive number, not {value!r}")
    return result


def flag(credentials: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = text(credentials, name)
    if value is None:
        return default
    if value.lower() in _YES:
        return True
    if value.lower() in _NO:
        return False
    raise ModelNotConfigured(f"the credential field {name!r} must be true or false, not {value!r}")


def with_suffix(url: str, suffix: str) -> str:
    """``url`` ending in ``suffix`` once: Dify's forms take ``https://api.openai.com`` and
    add ``/v1``, while users often paste the ``/v1`` URL themselves."""
    url = url.rstrip("/")
    return url if url.endswith(suffix) else url + suffix
