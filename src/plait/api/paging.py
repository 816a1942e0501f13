"""Dify's numbered-page envelope: ``{data, has_more, limit, total, page}``."""

from __future__ import annotations

from typing import Any, Protocol


class Numbered(Protocol):
    @property
    def has_more(self) -> bool: ...
    @property
    def page(self) -> int: ...
    @property
    def limit(self) -> int: ...
    @property
    def total(self) -> int: ...


def numbered_page(result: Numbered, data: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": data,
        "has_more": result.has_more,
        "limit": result.limit,
        "total": result.total,
        "page": result.page,
    }
